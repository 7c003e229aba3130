"""The loop reads the three splits as it should: permuting the test labels changes nothing a
choice reads (every epoch's report, the probes' settings and their select scores), only the
reported test numbers."""
import numpy as np
import pytest

from pipelines.beton import ArraySource, write_beton
from pipelines.digits import digits_splits
from tuning.config import validate_config
from tuning.run.data import PreparedData, prepare_data
from tuning.run.loop import RunRequest, pretrain
from tuning.run.sessions import LocalSession

CHOICES = ("linear_probe_lr", "linear_probe_select_top1", "knn_k", "knn_temperature", "knn_select_top1")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    _, (test_images, test_labels) = digits_splits(32)
    permuted = write_beton(ArraySource(test_images, np.random.default_rng(0).permutation(test_labels)),
                           folder / "test_permuted.beton", [str(d) for d in range(10)])
    cfg = validate_config({"data": {"batch_size": 128}, "schedule": {"epochs": 3}, "optim": {"base_lr": 0.5},
                           "probe": {"online_lr": 0.02, "offline_epochs": 5}, "resources": {"workers": 1}})
    data = prepare_data(cfg, folder)
    reports = {}
    for name, test in (("true", data.test), ("permuted", str(permuted))):
        session = LocalSession()
        pretrain(RunRequest(cfg, PreparedData(**{**data.__dict__, "test": test}), 0.0), session)
        reports[name] = session.reports
    return reports


def test_permuted_test_labels_change_no_choice_only_the_test_scores(runs):
    true, permuted = runs["true"], runs["permuted"]
    every_epoch = ("online_select_top1", "online_select_top5", "online_train_top1", "loss")
    assert [[r[k] for k in every_epoch] for r in true] == [[r[k] for k in every_epoch] for r in permuted]
    assert [true[-1][k] for k in CHOICES] == [permuted[-1][k] for k in CHOICES]
    assert true[-1]["online_select_top1"] > 20.0  # 10 classes: chance is 10%
    for score in ("linear_probe_test_top1", "knn_test_top1"):
        assert permuted[-1][score] < 20.0 < true[-1][score]  # the test labels really changed


def test_select_scoring_and_the_rung_candidates_are_reported_every_epoch(runs):
    candidates = ("online_select_top1", "online_bn_select_top1", "online_train_top1", "frozen_knn_select_top1",
                  "frozen_ridge_select_top1")
    for report in runs["true"]:
        assert 0.0 < report["select_time_s"] < report["epoch_time_s"]
        assert {"online_select_top5", "online_train_top5", "rung_probes_time_s"} <= set(report)
        assert all(0.0 <= report[key] <= 100.0 for key in candidates)
        assert 1.0 <= report["frozen_rankme"] <= 256  # small_cnn's representation has 256 dimensions
    last = runs["true"][-1]
    assert last["frozen_knn_select_top1"] > 30.0 and last["frozen_ridge_select_top1"] > 30.0  # chance is 10%


@pytest.mark.service  # starts a process
def test_a_run_with_the_divided_gather_warns_that_it_reproduces_the_bug(tmp_path, caplog):
    cfg = validate_config({"data": {"batch_size": 256}, "schedule": {"epochs": 1}, "loss": {"gather": "divided"},
                           "probe": {"offline_epochs": 0, "knn": False}, "resources": {"workers": 1}})
    with caplog.at_level("WARNING", logger="dualtune"):
        pretrain(RunRequest(cfg, prepare_data(cfg, tmp_path), 0.0), LocalSession())
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
