"""The loop through a LocalSession: one process, no Ray; reports kept, checkpoints resumed."""
import pytest

from pipelines.bundled import ensure_bundled_betons
from tuning.config import validate_config
from tuning.run.data import PreparedData
from tuning.run.loop import RunRequest, pretrain
from tuning.run.sessions import LocalSession


@pytest.fixture(scope="module")
def request_of_two_epochs(tmp_path_factory):
    train, val = ensure_bundled_betons("digits", tmp_path_factory.mktemp("digits"))
    cfg = validate_config({"data": {"batch_size": 256}, "schedule": {"epochs": 2},
                           "loss": {"method": "vicreg"}, "model": {"projector": "64-64-32"},
                           "probe": {"offline_epochs": 2, "knn": False}, "resources": {"workers": 1}})
    return RunRequest(cfg, PreparedData(
        train=str(train), test=str(val), num_classes=10, select_per_class=20, select_seed=0), requested_at=0.0)


def test_a_local_run_reports_every_epoch_and_resumes_from_its_checkpoint(request_of_two_epochs, tmp_path):
    session = LocalSession(checkpoint_root=tmp_path)
    pretrain(request_of_two_epochs, session)
    assert [r["epoch"] for r in session.reports] == [1, 2]
    assert [r["status"] for r in session.reports] == ["running", "completed"]
    last = session.reports[-1]
    assert {"loss_invariance", "loss_variance", "loss_covariance", "linear_probe_test_top1"} <= set(last)
    assert len(list(tmp_path.glob("checkpoint_*"))) == 2
    again = LocalSession(checkpoint_root=tmp_path)  # records that hold nothing of the finished run
    pretrain(request_of_two_epochs, again)  # no training: the checkpoint's history delivered again, whole
    assert [r["epoch"] for r in again.reports] == [1, 2]
    assert [r["loss"] for r in again.reports] == [r["loss"] for r in session.reports]
    assert again.reports[-1]["linear_probe_test_top1"] == last["linear_probe_test_top1"]


def test_a_run_resumed_from_a_checkpoint_its_records_lack_reports_that_epoch_first(request_of_two_epochs,
                                                                                   tmp_path):
    import dataclasses
    import shutil

    three = dataclasses.replace(request_of_two_epochs, config=request_of_two_epochs.config.model_copy(
        update={"schedule": request_of_two_epochs.config.schedule.model_copy(update={"epochs": 3})}))
    whole = LocalSession(checkpoint_root=tmp_path / "whole")
    pretrain(three, whole)
    assert [r["epoch"] for r in whole.reports] == [1, 2, 3]
    for held, expected in (([1], [1, 2, 3]), ([1, 2], [1, 2, 3])):
        root = tmp_path / f"held{len(held)}"
        shutil.copytree(tmp_path / "whole", root)
        shutil.rmtree(root / "checkpoint_000003")  # it stopped after saving epoch 2's checkpoint
        session = LocalSession(checkpoint_root=root)
        session.reports = [dict(whole.reports[e - 1]) for e in held]  # what reached the records
        pretrain(three, session)
        assert [r["epoch"] for r in session.reports] == expected  # epoch 2 once, whether or not it was held
        assert session.reports[1]["loss"] == whole.reports[1]["loss"]
