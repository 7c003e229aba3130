"""Campaigns: Ray Tune + Optuna over Ray Train trials, logged to MLflow, best config exported.

``run_campaign`` runs a search space; ``run_pretrain`` runs one fixed config through the
same path (a campaign of one trial, logged as a top-level MLflow run).
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from search_spaces.loader import SearchSpace
from tuning import cluster
from tuning.checkpoints import latest_checkpoint
from tuning.data import prepare_data
from tuning.export import best_row, export_config
from tuning.mlflow_logging import (CAMPAIGN_TAG, TRIAL_ID_TAG, TrialLogger, open_store, start_parent_run,
                                   trial_status, tracking_uri)
from tuning.optuna_search import build_searcher
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


STATE_FILE = "campaign.json"


@dataclass
class _Session:
    """What a campaign's driver needs, whether it starts the campaign or resumes it."""
    space: SearchSpace
    campaign: str
    runs_dir: Path
    data: dict
    experiment_id: str
    parent_run_id: str | None

    @property
    def storage_path(self) -> Path:
        return self.runs_dir / "ray"

    @property
    def db_path(self) -> Path:
        return self.runs_dir / "mlflow.db"

    def trainable(self):
        return tune.with_resources(
            tune.with_parameters(run_trial, base=self.space.base_tree(),
                                 campaign={"name": self.campaign, "data": self.data,
                                           "storage_path": str(self.storage_path)}),
            {"cpu": cluster.TUNE_FUNCTION_CPUS})

    def logger(self) -> TrialLogger:
        return TrialLogger(self.db_path, self.experiment_id, self.campaign, self.space.trial_config,
                           self.parent_run_id)


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
    if (runs_dir / campaign / STATE_FILE).exists():
        raise ValueError(f"campaign {campaign!r} already exists in {runs_dir}; resume it with --resume {campaign}")
    data = prepare_data(base_cfg, runs_dir / "data")
    client, experiment_id = open_store(runs_dir / "mlflow.db", space.name)
    cluster.connect(address, num_cpus)
    cluster.check_fits(base_cfg)

    parent_run_id = None
    if not top_level_runs:
        parent_run_id = start_parent_run(client, experiment_id, campaign,
                                         {"dualtune.space": space.name, "ray.version": ray.__version__,
                                          "optuna.version": optuna.__version__})
        client.log_text(parent_run_id, Path(space.source).read_text() if space.source else "", "search_space.yaml")
        client.log_param(parent_run_id, "num_samples", space.num_samples)
    session = _Session(space, campaign, runs_dir, data, experiment_id, parent_run_id)
    (runs_dir / campaign).mkdir(parents=True, exist_ok=True)
    (runs_dir / campaign / STATE_FILE).write_text(json.dumps(
        {"space": space.model_dump(mode="json"), "data": data, "experiment_id": experiment_id,
         "parent_run_id": parent_run_id}))
    tuner = tune.Tuner(
        session.trainable(),
        tune_config=tune.TuneConfig(search_alg=build_searcher(space, campaign, runs_dir / "optuna.db"),
                                    scheduler=_scheduler(space, base_cfg.schedule.epochs),
                                    num_samples=space.num_samples, max_concurrent_trials=space.max_concurrent_trials),
        run_config=tune.RunConfig(name=campaign, storage_path=str(session.storage_path),
                                  callbacks=[session.logger()], verbose=verbose),
    )
    return _finish(session, tuner.fit(), started)


def resume_campaign(campaign: str, runs_dir: str | Path = "runs", *, address: str | None = None,
                    num_cpus: int | None = None, verbose: int = 0) -> CampaignResult:
    """Continue a campaign whose driver stopped: finished trials are kept, unfinished ones
    resume from their checkpoints, and each trial keeps its one MLflow run."""
    started = time.perf_counter()
    runs_dir = Path(runs_dir).resolve()
    state_file = runs_dir / campaign / STATE_FILE
    if not state_file.is_file():
        known = sorted(p.parent.name for p in runs_dir.glob(f"*/{STATE_FILE}"))
        raise ValueError(f"no campaign {campaign!r} to resume in {runs_dir}; known: {', '.join(known) or 'none'}")
    state = json.loads(state_file.read_text())
    space = SearchSpace.model_validate(state["space"])
    session = _Session(space, campaign, runs_dir, state["data"], state["experiment_id"], state["parent_run_id"])
    cluster.connect(address, num_cpus)
    if session.parent_run_id:
        open_store(session.db_path, space.name)[0].update_run(session.parent_run_id, "RUNNING")
    tuner = tune.Tuner.restore(str(session.storage_path / campaign), trainable=session.trainable(),
                               resume_unfinished=True, resume_errored=False)
    return _finish(session, tuner.fit(), started)


def _finish(session: _Session, grid, started: float) -> CampaignResult:
    """Summarise the trials, export the best config and close the parent run."""
    space, campaign = session.space, session.campaign
    client = open_store(session.db_path, space.name)[0]
    logger = session.logger()
    logger.run_ids = {r.data.tags[TRIAL_ID_TAG]: r.info.run_id
                      for r in client.search_runs([session.experiment_id], f"tags.`{CAMPAIGN_TAG}` = '{campaign}'")
                      if TRIAL_ID_TAG in r.data.tags}
    param_names = list(space.params)
    rows = _rows(grid, logger, param_names, session.storage_path)
    best = best_row(rows, space.metric)
    exported = None
    if best is not None:
        provenance = {"campaign": campaign, "trial_id": best["trial_id"], "mlflow_run_id": best["run_id"],
                      "tracking_uri": tracking_uri(session.db_path), "checkpoint": best["checkpoint"]}
        exported = export_config(space.trial_config(best["config"]),
                                 session.runs_dir / campaign / "best_config.yaml", provenance)
        if best["run_id"]:
            client.set_tag(best["run_id"], "dualtune.exported_to", str(exported))
    parent_run_id = session.parent_run_id
    if parent_run_id:
        client.log_text(parent_run_id, _trials_csv(rows, param_names), "trials.csv")
        if exported:
            client.log_artifact(parent_run_id, str(exported))
            client.set_tag(parent_run_id, "dualtune.best_trial", best["trial_id"])
            for key in ("linear_probe_top1", "online_top1"):
                if best.get(key) is not None:
                    client.log_metric(parent_run_id, f"best_{key}", float(best[key]))
        client.set_terminated(parent_run_id, "FINISHED")
    return CampaignResult(campaign, rows, tracking_uri(session.db_path), space.name, parent_run_id, best, exported,
                          session.storage_path, time.perf_counter() - started, param_names)


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
