"""Faults on the real stack (local Ray, .beton, MLflow SQLite), each stated with its outcome.

- A Train worker SIGKILLed mid-run: the worker group restarts from the last checkpoint
  (FailureConfig), the run completes with the final metrics of an uninterrupted run on the
  same seed, and MLflow shows one run with each epoch logged once (a restart from scratch
  would log epoch 1 twice).  "The same" is up to FFCV 1.0.2's crop and flip randomness,
  which its numba code draws unseeded, so two uninterrupted runs differ by as much; sample
  order, initialisation, photometric augmentations and all restored state are seeded.
- A trial whose loss goes non-finite (a huge lr): reported as ``diverged`` to Tune and MLflow,
  no stack trace, and the campaign's other trial completes.
"""
import threading
import time

import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search_spaces.loader import load_space
from tuning.campaign import run_campaign, run_pretrain
from tuning.mlflow_logging import STATUS_TAG

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
    reference = run_pretrain("digits-simclr", tmp_path / "ref", overrides=FAST, name="uninterrupted")

    killed: list[int] = []
    killer = threading.Thread(target=_kill_a_worker_after_first_checkpoint,
                              args=(tmp_path / "faulty" / "ray", killed))
    killer.start()
    faulty = run_pretrain("digits-simclr", tmp_path / "faulty", overrides=FAST, name="killed")
    killer.join()

    assert killed, "no Train worker was found to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    ref_row, row = reference.rows[0], faulty.rows[0]
    assert row["status"] == "completed" and row["epoch"] == 3
    assert row["loss"] == pytest.approx(ref_row["loss"], rel=0.02)
    assert row["linear_probe_top1"] == pytest.approx(ref_row["linear_probe_top1"], abs=6.0)

    client = MlflowClient(faulty.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("pretrain").experiment_id])
    assert len(runs) == 1
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    # Disk: 3 epochs checkpointed every epoch, checkpoint.keep_last=2 of them kept.
    kept = [p for p in (tmp_path / "ref" / "ray").glob("uninterrupted-*/checkpoint_*") if p.is_dir()]
    assert len(kept) == 2


def test_diverging_trial_is_marked_and_the_campaign_goes_on(ray_cluster, tmp_path):
    space_file = tmp_path / "diverge.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "diverge", "base": "digits-simclr", "num_samples": 2, "max_concurrent_trials": 1,
        "scheduler": {"type": "fifo"},
        "overrides": {**FAST, "schedule.epochs": 2, "optim.name": "sgd"},
        "params": {"optim.base_lr": {"distribution": "float", "low": 0.01, "high": 1.0e12, "log": True}},
        "points_to_evaluate": [{"optim.base_lr": 1.0e12}, {"optim.base_lr": 0.05}],
    }))
    result = run_campaign(load_space(str(space_file)), tmp_path / "runs", name="diverge")
    by_lr = {r["params"]["optim.base_lr"]: r for r in result.rows}
    assert by_lr[1.0e12]["status"] == "diverged" and by_lr[1.0e12]["error"] is None
    assert by_lr[0.05]["status"] == "completed"
    assert result.best["trial_id"] == by_lr[0.05]["trial_id"]
    client = MlflowClient(result.tracking_uri)
    assert client.get_run(by_lr[1.0e12]["run_id"]).data.tags[STATUS_TAG] == "diverged"
    assert client.get_run(by_lr[0.05]["run_id"]).data.tags[STATUS_TAG] == "completed"
