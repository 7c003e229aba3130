"""Campaigns: Ray Tune + Optuna over pretraining trials, logged to MLflow, best config exported.

``run_campaign`` runs a search space; ``resume_campaign`` continues one whose driver
stopped; ``sync_campaign`` back-fills MLflow from Tune's results; ``run_pretrain`` runs
one fixed config through the same path (a campaign of one trial, a top-level MLflow run).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from search_spaces.loader import SearchSpace
from tuning import cluster
from tuning.data import check_user_data, prepare_data
from tuning.export import best_row, export_config
from tuning.mlflow_logging import (CampaignRuns, TrialLogger, finish_parent_run, open_store, start_parent_run,
                                   tracking_uri)
from tuning.optuna_report import write_study_plots
from tuning.optuna_search import build_searcher, study_storage
from tuning.results import CampaignResult, read_trial_records, trial_rows, trials_csv
from tuning.sync import sync_trial_runs
from tuning.trial import run_trial

logger = logging.getLogger("dualtune")
STATE_FILE = "campaign.json"


def _tune_output(verbose: int) -> int:
    """Tune's console output for ``verbose``: 0 keeps it quiet (dualtune prints its own summary),
    1 shows Tune's progress table.  Tune's newer output engine ignores 0, so the classic one is used."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    return verbose


def _scheduler(space: SearchSpace, epochs: int):
    if space.scheduler.type == "fifo" or not space.params:
        return FIFOScheduler()
    return ASHAScheduler(metric=space.metric, mode=space.mode, time_attr="training_iteration", max_t=epochs,
                         grace_period=min(space.scheduler.grace_period, epochs),
                         reduction_factor=space.scheduler.reduction_factor)


class EpochBudget(tune.Stopper):
    """Stops the whole campaign once its trials have trained ``max_total_epochs`` epochs in
    total (distinct trial and epoch pairs: Tune's closing result repeats the last epoch)."""

    def __init__(self, max_total_epochs: int):
        self.max_total_epochs, self.epochs = max_total_epochs, set()

    def __call__(self, trial_id: str, result: dict) -> bool:
        self.epochs.add((trial_id, result.get("epoch", result.get("training_iteration"))))
        return False

    def stop_all(self) -> bool:
        return len(self.epochs) >= self.max_total_epochs


@dataclass
class _Session:
    """What a campaign's driver needs, whether it starts, resumes or syncs the campaign."""
    space: SearchSpace
    campaign: str
    runs_dir: Path
    data: dict
    experiment_id: str
    parent_run_id: str | None
    storage: str  # Ray Tune/Train results and checkpoints: a path or URI every node can reach

    @property
    def experiment(self) -> str:
        return f"{self.storage.rstrip('/')}/{self.campaign}"

    @property
    def db_path(self) -> Path:
        return self.runs_dir / "mlflow.db"

    @property
    def optuna_db(self) -> Path:
        return self.runs_dir / "optuna.db"

    def save(self) -> None:
        (self.runs_dir / self.campaign).mkdir(parents=True, exist_ok=True)
        (self.runs_dir / self.campaign / STATE_FILE).write_text(json.dumps(
            {"space": self.space.model_dump(mode="json"), "data": self.data, "experiment_id": self.experiment_id,
             "parent_run_id": self.parent_run_id, "storage": self.storage}))

    @classmethod
    def load(cls, campaign: str, runs_dir: Path) -> _Session:
        state_file = runs_dir / campaign / STATE_FILE
        if not state_file.is_file():
            known = sorted(p.parent.name for p in runs_dir.glob(f"*/{STATE_FILE}"))
            raise ValueError(f"no campaign {campaign!r} in {runs_dir}; known: {', '.join(known) or 'none'}")
        state = json.loads(state_file.read_text())
        return cls(SearchSpace.model_validate(state["space"]), campaign, runs_dir, state["data"],
                   state["experiment_id"], state["parent_run_id"], state["storage"])

    def trainable(self):
        return tune.with_resources(
            tune.with_parameters(run_trial, space=self.space,
                                 campaign={"name": self.campaign, "data": self.data,
                                           "storage_path": self.storage}),
            cluster.trial_function_resources(self.space.base_config()))

    def campaign_runs(self) -> CampaignRuns:
        return CampaignRuns(self.db_path, self.experiment_id, self.campaign, self.space.trial_config,
                            self.parent_run_id)

    def run_config(self, verbose: int) -> tune.RunConfig:
        """Tune's run config: one-worker trials keep and retry their own checkpoints here;
        multi-worker trials do so in their Train run (see tuning.trial.build_trainer)."""
        cfg = self.space.base_config()
        in_process = cluster.runs_in_trial_process(cfg)
        return tune.RunConfig(
            name=self.campaign, storage_path=self.storage, callbacks=[TrialLogger(self.campaign_runs())],
            verbose=verbose, checkpoint_config=tune.CheckpointConfig(num_to_keep=cfg.checkpoint.keep_last),
            stop=EpochBudget(self.space.max_total_epochs) if self.space.max_total_epochs else None,
            failure_config=tune.FailureConfig(max_failures=cfg.checkpoint.max_failures if in_process else 0))


def run_campaign(space: SearchSpace, runs_dir: str | Path = "runs", *, name: str | None = None,
                 address: str | None = None, num_cpus: int | None = None, storage: str | None = None,
                 top_level_runs: bool = False, verbose: int = 0) -> CampaignResult:
    """Run ``space`` as a Ray Tune campaign and export its best config.

    ``storage`` (default ``RUNS_DIR/ray``) holds Ray's results and checkpoints: on a
    multi-node cluster, a shared path or a URI (``s3://...``) every node can reach.
    Everything that can fail on bad input (config, data, MLflow store, resources) is
    checked before the first trial starts.
    """
    started = time.perf_counter()
    runs_dir = Path(runs_dir).resolve()
    base_cfg = space.base_config()
    campaign = name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (runs_dir / campaign / STATE_FILE).exists():
        raise ValueError(f"campaign {campaign!r} already exists in {runs_dir}; resume it with --resume {campaign}")
    check_user_data(base_cfg)
    client, experiment_id = open_store(runs_dir / "mlflow.db", space.name)
    cluster.connect(address, num_cpus)
    cluster.check_fits(base_cfg)
    data = prepare_data(base_cfg, runs_dir / "data")

    parent_run_id = None
    if not top_level_runs:
        parent_run_id = start_parent_run(client, experiment_id, campaign, {"dualtune.space": space.name})
        client.log_text(parent_run_id, space.to_yaml(), "search_space.yaml")
        client.log_param(parent_run_id, "num_samples", space.num_samples)
    session = _Session(space, campaign, runs_dir, data, experiment_id, parent_run_id,
                       _storage_location(storage, runs_dir))
    session.save()
    tuner = tune.Tuner(
        session.trainable(),
        tune_config=tune.TuneConfig(search_alg=build_searcher(space, campaign, session.optuna_db),
                                    scheduler=_scheduler(space, base_cfg.schedule.epochs),
                                    num_samples=space.num_samples, max_concurrent_trials=space.max_concurrent_trials),
        run_config=session.run_config(_tune_output(verbose)),
    )
    tuner.fit()
    return _finish(session, started)


def resume_campaign(campaign: str, runs_dir: str | Path = "runs", *, address: str | None = None,
                    num_cpus: int | None = None, verbose: int = 0) -> CampaignResult:
    """Continue a campaign whose driver stopped: finished trials are kept, unfinished ones
    resume from their checkpoints, and each trial keeps its one MLflow run."""
    started = time.perf_counter()
    session = _Session.load(campaign, Path(runs_dir).resolve())
    cluster.connect(address, num_cpus)
    if session.parent_run_id:
        open_store(session.db_path, session.space.name)[0].update_run(session.parent_run_id, "RUNNING")
    _tune_output(verbose)
    tuner = tune.Tuner.restore(session.experiment, trainable=session.trainable(),
                               resume_unfinished=True, resume_errored=False)
    tuner.fit()
    return _finish(session, started)


def sync_campaign(campaign: str, runs_dir: str | Path = "runs") -> CampaignResult:
    """Back-fill a campaign's MLflow runs from Tune's results on disk (after an MLflow
    outage or a killed driver); closes the parent run once every trial has ended."""
    started = time.perf_counter()
    session = _Session.load(campaign, Path(runs_dir).resolve())
    open_store(session.db_path, session.space.name)  # a clear error if the store is still unusable
    return _finish(session, started)


def _finish(session: _Session, started: float) -> CampaignResult:
    """Bring MLflow up to date with Tune's results, export the best config and, when every
    trial has ended, close the parent run.  An MLflow failure here is a warning: the
    results stay on disk for ``dualtune sync``."""
    space, campaign = session.space, session.campaign
    records = read_trial_records(session.experiment)
    param_names = list(space.params)
    try:
        run_ids = sync_trial_runs(session.campaign_runs(), records)
    except Exception as error:  # MLflow or its database is down: training results are safe on disk
        logger.warning("could not update MLflow (%s); run `dualtune sync %s` once it is back",
                       str(error).splitlines()[0], campaign)
        run_ids = None
    rows = trial_rows(records, campaign, run_ids or {}, param_names, session.storage)
    best = best_row(rows, space.metric)
    exported = None
    if best is not None:
        provenance = {"campaign": campaign, "trial_id": best["trial_id"], "mlflow_run_id": best["run_id"],
                      "tracking_uri": tracking_uri(session.db_path), "checkpoint": best["checkpoint"]}
        exported = export_config(space.trial_config(best["config"]),
                                 session.runs_dir / campaign / "best_config.yaml", provenance)
    all_ended = all(record.ended for record in records)
    synced = run_ids is not None
    if synced and all_ended:
        try:
            _close_campaign_runs(session, rows, best, exported)
        except Exception as error:  # as above
            logger.warning("could not finish the MLflow parent run (%s); run `dualtune sync %s` later",
                           str(error).splitlines()[0], campaign)
            synced = False
    return CampaignResult(campaign, rows, tracking_uri(session.db_path), space.name, session.experiment_id,
                          session.parent_run_id, best,
                          exported, session.runs_dir, session.storage, time.perf_counter() - started, param_names,
                          mlflow_synced=synced)


def _storage_location(storage: str | None, runs_dir: Path) -> str:
    """Ray's storage: a URI as given, a local path made absolute (Ray and pyarrow need that)."""
    if storage is None:
        return str(runs_dir / "ray")
    return storage if "://" in storage else str(Path(storage).resolve())


def _close_campaign_runs(session: _Session, rows: list[dict], best: dict | None, exported: Path | None) -> None:
    client = open_store(session.db_path, session.space.name)[0]
    if best is not None and best["run_id"]:
        client.set_tag(best["run_id"], "dualtune.exported_to", str(exported))
    if not session.parent_run_id:
        return
    with tempfile.TemporaryDirectory() as tmp:
        plots_dir = None
        if session.space.params:
            study = optuna.load_study(study_name=session.campaign, storage=study_storage(session.optuna_db))
            plots_dir = Path(tmp) / "optuna"
            write_study_plots(study, plots_dir)
        finish_parent_run(client, session.parent_run_id, trials_csv(rows, list(session.space.params)), best,
                          exported, plots_dir)


def run_pretrain(config_source: str, runs_dir: str | Path = "runs", *, overrides: dict[str, Any] | None = None,
                 experiment: str = "pretrain", name: str | None = None, address: str | None = None,
                 num_cpus: int | None = None, storage: str | None = None, verbose: int = 0) -> CampaignResult:
    """One pretraining of a preset or config file (with dotted ``overrides``), through the same
    Tune path as a campaign trial, logged as a top-level MLflow run in ``experiment``."""
    space = SearchSpace(name=experiment, base=config_source, overrides=overrides or {}, num_samples=1,
                        scheduler={"type": "fifo"}, metric="online_top1")
    space.check()
    return run_campaign(space, runs_dir, name=name or f"pretrain-{time.strftime('%Y%m%d-%H%M%S')}",
                        address=address, num_cpus=num_cpus, storage=storage, top_level_runs=True, verbose=verbose)
