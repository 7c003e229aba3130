"""A trial's result.json across a driver restart: the resumed driver's fresh staging folder starts
from the stored history (Tune's own logger starts it empty when its state names no checkpoint, and
its sync then overwrites the history), and an epoch delivered again is written once.  A real local
Ray gives the drivers' staging folders; the sync to storage is done here as Tune does it."""
import json
import shutil
from pathlib import Path

from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial
from ray.tune.logger import JsonLoggerCallback

from tuning.campaign.records.result_log import ResultLog


def _trial(storage: Path) -> Trial:
    """The same trial as a new driver sees it: a new storage context (a new staging folder), no checkpoint."""
    trial = Trial("__fake", config={"lr": 0.5}, storage=StorageContext(storage_path=str(storage),
                                                                      experiment_dir_name="exp"),
                  trial_id="abc", stub=True)
    trial.relative_logdir = "run_trial_abc"
    trial.storage.trial_dir_name = "run_trial_abc"
    return trial


def _drive(logger_class, storage: Path, epochs: list[int]) -> None:
    """One driver's life: start the trial, log ``epochs``, end, sync its staging folder to storage;
    its staging folder then goes (the next driver's Ray session has its own)."""
    trial = _trial(storage)
    Path(trial.local_path).mkdir(parents=True)  # as Tune's controller makes it before any logger runs
    log = logger_class()
    log.log_trial_start(trial)
    for epoch in epochs:
        log.log_trial_result(epoch, trial, {"epoch": epoch, "loss": 10.0 - epoch})
    log.log_trial_end(trial)
    Path(trial.path).mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(trial.local_path, "result.json"), Path(trial.path, "result.json"))
    shutil.rmtree(trial.local_path)


def _stored_epochs(storage: Path) -> list[int]:
    lines = (storage / "exp" / "run_trial_abc" / "result.json").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines]


def test_a_resumed_driver_keeps_the_stored_history_and_each_epoch_once(ray_cluster, tmp_path):
    _drive(ResultLog, tmp_path, [1, 2])
    _drive(ResultLog, tmp_path, [2, 3, 4])  # epoch 2 delivered again by the resumed trial
    assert _stored_epochs(tmp_path) == [1, 2, 3, 4]


def test_tunes_own_logger_loses_the_history_so_the_test_can_fail(ray_cluster, tmp_path):
    _drive(JsonLoggerCallback, tmp_path, [1, 2])
    _drive(JsonLoggerCallback, tmp_path, [2, 3, 4])
    assert _stored_epochs(tmp_path) == [2, 3, 4]
