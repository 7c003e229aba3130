"""Campaigns: Ray Tune + Optuna over Ray Train trials, logged to MLflow, best config exported.

``run_campaign`` runs a search space; ``run_pretrain`` runs one fixed config through the
same path (a campaign of one trial, logged as a top-level MLflow run).
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.optuna import OptunaSearch

from search_spaces.loader import SearchSpace
from tuning import cluster
from tuning.checkpoints import latest_checkpoint
from tuning.data import prepare_data
from tuning.export import best_row, export_config
from tuning.mlflow_logging import TrialLogger, open_store, start_parent_run, trial_status, tracking_uri
from tuning.trial import run_trial

SUMMARY_METRICS = ("online_top1", "linear_probe_top1", "knn_top1", "loss", "epoch")


@dataclass
class CampaignResult:
    name: str
    rows: list[dict[str, Any]]
    tracking_uri: str
    experiment: str
    parent_run_id: str | None
    best: dict[str, Any] | None
    exported: Path | None
    storage_path: Path
    wall_time_s: float
    param_names: list[str] = field(default_factory=list)


def _searcher(space: SearchSpace):
    if not space.params:
        return None
    sampler = (optuna.samplers.TPESampler(seed=space.seed) if space.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=space.seed))
    return OptunaSearch(space=space.define_by_run, metric=space.metric, mode=space.mode, sampler=sampler,
                        points_to_evaluate=space.points_to_evaluate or None)


def _scheduler(space: SearchSpace, epochs: int):
    if space.scheduler.type == "fifo" or not space.params:
        return FIFOScheduler()
    return ASHAScheduler(metric=space.metric, mode=space.mode, time_attr="training_iteration", max_t=epochs,
                         grace_period=min(space.scheduler.grace_period, epochs),
                         reduction_factor=space.scheduler.reduction_factor)


def _rows(grid, logger: TrialLogger, param_names: list[str], train_runs: Path) -> list[dict[str, Any]]:
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        row = {"trial_id": trial_id, "status": trial_status(metrics, result.error is not None),
               "duration_s": metrics.get("time_total_s"), "run_id": logger.run_ids.get(trial_id),
               "params": {p: result.config.get(p) for p in param_names if p in result.config},
               "config": result.config, "error": str(result.error).splitlines()[0] if result.error else None,
               "checkpoint": latest_checkpoint(train_runs / f"{logger.campaign}-{trial_id}")}
        row.update({m: metrics.get(m) for m in SUMMARY_METRICS})
        rows.append(row)
    return sorted(rows, key=lambda r: r["trial_id"])


def _trials_csv(rows: list[dict[str, Any]], param_names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial_id", "status", *param_names, *SUMMARY_METRICS, "duration_s", "run_id"])
    for r in rows:
        writer.writerow([r["trial_id"], r["status"], *(r["params"].get(p) for p in param_names),
                         *(r.get(m) for m in SUMMARY_METRICS), r["duration_s"], r["run_id"]])
    return buffer.getvalue()


def run_campaign(space: SearchSpace, runs_dir: str | Path = "runs", *, name: str | None = None,
                 address: str | None = None, num_cpus: int | None = None, top_level_runs: bool = False,
                 verbose: int = 0) -> CampaignResult:
    """Run ``space`` as a Ray Tune campaign and export its best config.

    Everything that can fail on bad input (config, data, MLflow store, resources) is
    checked before the first trial starts.
    """
    started = time.perf_counter()
    runs_dir = Path(runs_dir).resolve()
    base_cfg = space.base_config()
    campaign = name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    campaign_dir = runs_dir / campaign
    data = prepare_data(base_cfg, runs_dir / "data")
    db_path = runs_dir / "mlflow.db"
    client, experiment_id = open_store(db_path, space.name)
    cluster.connect(address, num_cpus)
    cluster.check_fits(base_cfg)

    parent_run_id = None
    if not top_level_runs:
        parent_run_id = start_parent_run(client, experiment_id, campaign,
                                         {"dualtune.space": space.name, "ray.version": ray.__version__,
                                          "optuna.version": optuna.__version__})
        client.log_text(parent_run_id, Path(space.source).read_text() if space.source else "", "search_space.yaml")
        client.log_param(parent_run_id, "num_samples", space.num_samples)
    logger = TrialLogger(db_path, experiment_id, campaign, space.trial_config, parent_run_id)
    storage_path = runs_dir / "ray"
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, base=space.base_tree(),
                             campaign={"name": campaign, "data": data, "storage_path": str(storage_path)}),
        {"cpu": cluster.TUNE_FUNCTION_CPUS})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=_searcher(space), scheduler=_scheduler(space, base_cfg.schedule.epochs),
                                    num_samples=space.num_samples, max_concurrent_trials=space.max_concurrent_trials),
        run_config=tune.RunConfig(name=campaign, storage_path=str(storage_path), callbacks=[logger], verbose=verbose),
    )
    grid = tuner.fit()

    param_names = list(space.params)
    rows = _rows(grid, logger, param_names, storage_path)
    best = best_row(rows, space.metric)
    exported = None
    if best is not None:
        provenance = {"campaign": campaign, "trial_id": best["trial_id"], "mlflow_run_id": best["run_id"],
                      "tracking_uri": tracking_uri(db_path), "checkpoint": best["checkpoint"]}
        exported = export_config(space.trial_config(best["config"]), campaign_dir / "best_config.yaml", provenance)
        if best["run_id"]:
            client.set_tag(best["run_id"], "dualtune.exported_to", str(exported))
    if parent_run_id:
        client.log_text(parent_run_id, _trials_csv(rows, param_names), "trials.csv")
        if exported:
            client.log_artifact(parent_run_id, str(exported))
            client.set_tag(parent_run_id, "dualtune.best_trial", best["trial_id"])
            for key in ("linear_probe_top1", "online_top1"):
                if best.get(key) is not None:
                    client.log_metric(parent_run_id, f"best_{key}", float(best[key]))
        client.set_terminated(parent_run_id, "FINISHED")
    return CampaignResult(campaign, rows, tracking_uri(db_path), space.name, parent_run_id, best, exported,
                          storage_path, time.perf_counter() - started, param_names)


def run_pretrain(config_source: str, runs_dir: str | Path = "runs", *, overrides: dict[str, Any] | None = None,
                 experiment: str = "pretrain", name: str | None = None, address: str | None = None,
                 num_cpus: int | None = None, verbose: int = 0) -> CampaignResult:
    """One pretraining of a preset or config file (with dotted ``overrides``), through the same
    Tune + Train path as a campaign trial, logged as a top-level MLflow run in ``experiment``."""
    space = SearchSpace(name=experiment, base=config_source, overrides=overrides or {}, num_samples=1,
                        scheduler={"type": "fifo"}, metric="online_top1")
    space.check()
    return run_campaign(space, runs_dir, name=name or f"pretrain-{time.strftime('%Y%m%d-%H%M%S')}",
                        address=address, num_cpus=num_cpus, top_level_runs=True, verbose=verbose)
