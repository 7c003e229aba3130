"""The loop's online metric is the val split's: permuting the val labels sends online_top1 to
chance and leaves the training-set number, and training itself, as they were."""
import numpy as np
import pytest

from pipelines.beton import ArraySource, write_beton
from pipelines.bundled import ensure_bundled_betons
from pipelines.digits import digits_splits
from tuning.config import validate_config
from tuning.run.data import PreparedData
from tuning.run.loop import RunRequest, pretrain
from tuning.run.sessions import LocalSession


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    train, val = ensure_bundled_betons("digits", folder)
    _, (val_images, val_labels) = digits_splits(32)
    permuted = write_beton(ArraySource(val_images, np.random.default_rng(0).permutation(val_labels)),
                           folder / "val_permuted.beton", [str(d) for d in range(10)])
    cfg = validate_config({"data": {"batch_size": 128}, "schedule": {"epochs": 3}, "optim": {"base_lr": 0.5},
                           "probe": {"online_lr": 0.02, "offline_epochs": 0, "knn": False},
                           "resources": {"workers": 1}})
    reports = {}
    for name, val_path in (("true", val), ("permuted", permuted)):
        session = LocalSession()
        pretrain(RunRequest(cfg, PreparedData(train=str(train), val=str(val_path), num_classes=10), 0.0), session)
        reports[name] = session.reports
    return reports


def test_permuted_val_labels_send_online_top1_to_chance_and_leave_training_alone(runs):
    true, permuted = runs["true"][-1], runs["permuted"][-1]
    assert true["online_top1"] > 20.0 and permuted["online_top1"] < 15.0  # 10 classes: chance is 10%
    assert permuted["online_train_top1"] == true["online_train_top1"] and permuted["loss"] == true["loss"]


def test_val_scoring_is_timed_and_counted_every_epoch(runs):
    for report in runs["true"]:
        assert 0.0 < report["val_time_s"] < report["epoch_time_s"]
        assert {"online_top1", "online_top5", "online_train_top1", "online_train_top5"} <= set(report)


@pytest.mark.service  # starts a process
def test_a_run_with_the_divided_gather_warns_that_it_reproduces_the_bug(tmp_path, caplog):
    train, val = ensure_bundled_betons("digits", tmp_path)
    cfg = validate_config({"data": {"batch_size": 256}, "schedule": {"epochs": 1}, "loss": {"gather": "divided"},
                           "probe": {"offline_epochs": 0, "knn": False}, "resources": {"workers": 1}})
    with caplog.at_level("WARNING", logger="dualtune"):
        pretrain(RunRequest(cfg, PreparedData(train=str(train), val=str(val), num_classes=10), 0.0), LocalSession())
    assert "loss.gather=divided reproduces the paper's footnote-1 DDP gather bug" in caplog.text
    assert "with 1 worker it changes nothing" in caplog.text


def test_every_reported_key_is_declared_in_the_reports_vocabulary(runs):
    from tuning.run import reports

    for report in runs["true"]:
        undeclared = {k for k in report if k not in reports.BY_NAME and not k.startswith(reports.loss_term(""))}
        assert not undeclared, f"reported but not declared in tuning/run/reports.py: {sorted(undeclared)}"
        assert {reports.EPOCH, reports.RUN_STATE, reports.LOSS, reports.ONLINE_TOP1} <= set(report)
    states = [report[reports.RUN_STATE] for report in runs["true"]]
    assert states == [reports.RunState.RUNNING] * 2 + [reports.RunState.COMPLETED]
