"""Faults on the real stack (local Ray, .beton, MLflow SQLite), each stated with its outcome.

- A Train worker SIGKILLed mid-run: the worker group restarts from the last checkpoint
  (FailureConfig), the run completes with the same final metrics as an uninterrupted run on
  the same seed, and MLflow shows one run with each epoch logged once (a restart from
  scratch would log epoch 1 twice).  Sample order, crops, initialisation, flips,
  photometric augmentations and all restored state are seeded, so the two runs must agree
  to float precision.
- A trial whose loss goes non-finite (a huge lr) and one that raises (its model cannot be
  allocated): marked ``diverged`` and ``failed`` in Tune's results, in MLflow (tag and run
  status) and in Optuna (FAIL, with the status as a user attribute); the campaign's other
  trial completes and is the one exported.
"""
import threading
import time

import optuna
import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tuning.campaign.records.tracking import Tags
from tuning.campaign.search.driver import CampaignOptions, run_campaign, run_pretrain
from tuning.campaign.search.searcher import STATUS_ATTR
from tuning.campaign.space import load_space

pytestmark = pytest.mark.slow

FAST = {"schedule.epochs": 3, "data.batch_size": 128, "probe.offline_epochs": 5, "probe.knn": False,
        "checkpoint.every_epochs": 1, "checkpoint.max_failures": 2}


def _kill_a_worker_after_first_checkpoint(train_runs_dir, killed: list, timeout_s=240):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if any(p.is_dir() for p in train_runs_dir.glob("*/checkpoint_*")):
            for proc in psutil.process_iter(["cmdline"]):
                if (proc.info["cmdline"] or [""])[0].startswith("ray::RayTrainWorker"):
                    proc.kill()  # SIGKILL
                    killed.append(proc.pid)
                    return
        time.sleep(0.2)


def test_killed_worker_resumes_from_checkpoint_with_identical_results(ray_cluster, tmp_path):
    reference = run_pretrain("digits-simclr", CampaignOptions(runs_dir=tmp_path / "ref"), overrides=FAST,
                             name="uninterrupted")

    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_worker_after_first_checkpoint,
                              args=(tmp_path / "faulty" / "ray", killed))
    killer.start()
    faulty = run_pretrain("digits-simclr", CampaignOptions(runs_dir=tmp_path / "faulty"), overrides=FAST, name="killed")
    killer.join()

    assert killed, "no Train worker was found to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    ref_row, row = reference.rows[0], faulty.rows[0]
    assert row.status == "completed" and row.epoch == 3
    for metric in ("loss", "online_select_top1", "linear_probe_test_top1"):
        assert row.metric(metric) == pytest.approx(ref_row.metric(metric), rel=1e-6), metric

    client = MlflowClient(faulty.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("pretrain").experiment_id])
    assert len(runs) == 1
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    # Disk: 3 epochs checkpointed every epoch, checkpoint.keep_last=2 of them kept.
    kept = [p for p in (tmp_path / "ref" / "ray").glob("uninterrupted-*/checkpoint_*") if p.is_dir()]
    assert len(kept) == 2


def test_diverging_and_raising_trials_are_marked_and_the_campaign_goes_on(ray_cluster, tmp_path):
    huge = 2 ** 40  # a 512 x 2^40 projector layer: the allocation fails when the trial builds its model
    space_file = tmp_path / "faults.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "faults", "base": "digits-simclr", "num_samples": 3, "max_concurrent_trials": 1,
        "scheduler": {"type": "fifo"},
        "overrides": {**FAST, "schedule.epochs": 2, "optim.name": "sgd", "resources.workers": 1,
                      "checkpoint.max_failures": 0, "model.projector": "512-d", "model.embedding_dim": 64},
        "params": {"optim.base_lr": {"distribution": "float", "low": 0.01, "high": 1.0e12, "log": True},
                   "model.embedding_dim": {"distribution": "categorical", "choices": [64, huge]}},
        "points_to_evaluate": [{"optim.base_lr": 1.0e12, "model.embedding_dim": 64},
                               {"optim.base_lr": 0.05, "model.embedding_dim": 64},
                               {"optim.base_lr": 0.05, "model.embedding_dim": huge}],
    }))
    result = run_campaign(load_space(str(space_file)), CampaignOptions(runs_dir=tmp_path / "runs"), name="faults")

    by_case = {(r.params["optim.base_lr"], r.params["model.embedding_dim"]): r for r in result.rows}
    diverged, completed, raised = by_case[(1.0e12, 64)], by_case[(0.05, 64)], by_case[(0.05, huge)]
    assert (diverged.status, diverged.error) == ("diverged", None)
    assert completed.status == "completed" and completed.linear_probe_test_top1 > 10.0
    assert raised.status == "failed" and "allocate" in raised.error
    assert result.best.trial_id == completed.trial_id
    client = MlflowClient(result.tracking_uri)
    for row, mlflow_status in ((diverged, "FINISHED"), (completed, "FINISHED"), (raised, "FAILED")):
        run = client.get_run(row.run_id)
        assert (run.data.tags[Tags.TRIAL_STATUS], run.info.status) == (row.status, mlflow_status)
    study = optuna.load_study(study_name="faults", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    told = {(t.params["optim.base_lr"], t.params["model.embedding_dim"]): (t.state, t.user_attrs.get(STATUS_ATTR))
            for t in study.trials}
    assert told == {(1.0e12, 64): (TrialState.FAIL, "diverged"), (0.05, 64): (TrialState.COMPLETE, "completed"),
                    (0.05, huge): (TrialState.FAIL, "failed")}
