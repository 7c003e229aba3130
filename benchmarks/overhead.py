"""Orchestration overhead: a campaign's wall time against the training its trials did.

Two campaigns of the same shape run in one process, one after the other, each trial about
two minutes of training on the bundled digits, trials one at a time (so wall time adds up
trial by trial): one with two-worker trials (a Ray Train worker group per trial) and one
with one-worker trials (trained in the Tune trial's own process, no worker group).  From
each trial's reports: epochs, final evaluation and the itemised start-up costs (worker
start, model build, FFCV loader build, first batch = FFCV compilation, checkpoints); the
driver's MLflow writes for one trial are timed on the same store.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.goals import target_line
from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.results import read_trial_records
from tuning.campaign.records.tracking import CampaignRuns, open_store
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace
from tuning.campaign.statuses import TrialStatus
from tuning.config import validate_config

STARTUP_KEYS = ("startup_worker_s", "startup_model_s", "startup_loader_s", "startup_first_batch_s")

TITLE = "Orchestration overhead: campaign wall time vs training time"

def _space(workers: int, epochs: int, trials: int) -> SearchSpace:
    space = SearchSpace(
        name=f"overhead-{workers}w", base="digits-simclr", num_samples=trials, max_concurrent_trials=1,
        scheduler={"type": "fifo"}, sampler="random",
        overrides={"schedule.epochs": epochs, "resources.workers": workers, "resources.torch_threads": 2 // workers,
                   "checkpoint.every_epochs": 10, "probe.knn": False},
        params={"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.3}})
    space.check()
    return space


def _mlflow_seconds_per_trial(runs_dir: Path, epochs: int) -> float:
    """What the driver's logger writes for one trial (run, params, config, every epoch, close)."""
    stores = Stores.default(RunsFolder(runs_dir))
    client, experiment_id = open_store(stores, "overhead-probe")
    runs = CampaignRuns(stores, experiment_id, "probe", lambda s: validate_config({}), None)
    result = {"epoch": 1, "loss": 1.0, "online_select_top1": 10.0, "lr": 0.1, "images_per_s": 100.0, "reported_at": 1.0}
    start = time.perf_counter()
    run_id = runs.run_for("t0", {}, "/tmp")
    for epoch in range(1, epochs + 1):
        runs.log_results(run_id, [{**result, "epoch": epoch, "reported_at": time.time()}])
    runs.close(run_id, TrialStatus.COMPLETED)
    return time.perf_counter() - start


def measure(workers: int, runs_dir: Path, epochs: int, trials: int) -> dict:
    """Wall time, summed training and evaluation, and mean start-up costs of one campaign."""
    started = time.perf_counter()
    result = run_campaign(_space(workers, epochs, trials), CampaignOptions(runs_dir=runs_dir, num_cpus=3),
                          name=f"overhead-{workers}w")
    wall = time.perf_counter() - started
    records = read_trial_records(f"{result.storage}/{result.name}")
    train = sum(r.get("epoch_time_s", 0.0) for rec in records for r in rec.results)
    evaluation = sum(r.get("eval_time_s", 0.0) for rec in records for r in rec.results)
    checkpoints = sum(r.get("checkpoint_time_s", 0.0) for rec in records for r in rec.results)
    firsts = [rec.results[0] for rec in records]
    row = {"workers": workers, "trials": len(records), "wall": wall, "train": train, "eval": evaluation,
           "per_trial_train": train / len(records), "overhead": 1 - (train + evaluation) / wall,
           "checkpoints": checkpoints / len(records), "mlflow": _mlflow_seconds_per_trial(runs_dir, epochs)}
    row.update({key: statistics.mean(first.get(key, 0.0) for first in firsts) for key in STARTUP_KEYS})
    row["fixed_per_trial"] = (wall - train - evaluation) / len(records)
    return row


def run(epochs: int = 30, trials: int = 2) -> list[dict]:
    import ray

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (2, 1):
            rows.append(measure(workers, Path(tmp) / f"runs{workers}", epochs, trials))
            ray.shutdown()  # each campaign starts its own cluster, as `dualtune tune` would
    return rows


def report(rows: list[dict]) -> list[str]:
    lines = ["| trials | wall (s) | training + eval (s) | per trial: training (s) | fixed cost (s) | "
             "**overhead** | worker start | model build | loader build | first batch (FFCV compile) | "
             "checkpoints | MLflow writes |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        kind = "2-worker (Train worker group)" if r["workers"] == 2 else "1-worker (in the trial process)"
        lines.append(f"| {r['trials']} x {kind} | {r['wall']:.0f} | {r['train'] + r['eval']:.0f} | "
                     f"{r['per_trial_train']:.0f} | {r['fixed_per_trial']:.1f} | **{100 * r['overhead']:.1f}%** | "
                     f"{r['startup_worker_s']:.1f} | {r['startup_model_s']:.1f} | {r['startup_loader_s']:.1f} | "
                     f"{r['startup_first_batch_s']:.1f} | {r['checkpoints']:.1f} | {r['mlflow']:.2f} |")
    best = min(rows, key=lambda r: r["overhead"])
    return lines + ["", target_line("under 15% overhead for trials of about 2 minutes", best["overhead"] < 0.15,
                                    f"{100 * best['overhead']:.1f}% with {best['workers']}-worker trials")]


if __name__ == "__main__":
    print("\n".join(report(run())))
