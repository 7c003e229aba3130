"""MLflow logging from the campaign driver: a parent run per campaign, a child run per trial.

All writes happen in the driver process (a Tune callback), so trials never contend for the
SQLite store, and a trial restarted from its checkpoint keeps writing to its one run.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from tuning.config import PretrainConfig, dump_config, flatten

TRIAL_ID_TAG = "dualtune.trial_id"
STATUS_TAG = "dualtune.status"
CAMPAIGN_TAG = "dualtune.campaign"
CONFIG_HASH_TAG = "dualtune.config_hash"
NON_METRIC_KEYS = {"status", "trial_id", "training_iteration", "timestamp", "time_this_iter_s",
                   "time_total_s", "time_since_restore", "iterations_since_restore", "pid", "node_ip",
                   "done", "checkpoint_dir_name", "date", "hostname", "experiment_tag", "config"}


def tracking_uri(db_path: Path) -> str:
    """An absolute SQLite tracking URI (Ray changes every worker's working directory)."""
    return f"sqlite:///{Path(db_path).resolve()}"


def open_store(db_path: Path, experiment: str) -> tuple[MlflowClient, str]:
    """A client on the store and the id of ``experiment`` (created if missing).  Fails early,
    naming the path, when the store cannot be created or written."""
    db_path = Path(db_path).resolve()
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        client = MlflowClient(tracking_uri(db_path))
        found = client.get_experiment_by_name(experiment)
        artifacts = (db_path.parent / "mlartifacts" / experiment).as_uri()  # not ./mlruns of the cwd
        experiment_id = found.experiment_id if found else client.create_experiment(experiment, artifacts)
    except Exception as error:
        raise RuntimeError(f"cannot open the MLflow store at {db_path}: {error}") from None
    return client, experiment_id


def config_params(cfg: PretrainConfig) -> list[Param]:
    """The full flattened config as MLflow params, plus the derived effective lr."""
    flat = flatten(cfg.model_dump(mode="json"))
    flat["optim.effective_lr"] = cfg.effective_lr()
    return [Param(k, str(v)) for k, v in sorted(flat.items())]


def numeric_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a Tune result that are training metrics."""
    return {k: float(v) for k, v in result.items()
            if k not in NON_METRIC_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v))}


def trial_status(last_result: dict[str, Any] | None, errored: bool) -> str:
    """completed / early_stopped / diverged / failed, from how the trial ended."""
    if errored:
        return "failed"
    status = (last_result or {}).get("status")
    if status in ("completed", "diverged"):
        return status
    return "early_stopped"


class TrialLogger(tune.Callback):
    """Creates a child run per trial (under ``parent_run_id`` when given), logs each reported
    epoch as metrics at step=epoch, and closes the run with the trial's real status."""

    def __init__(self, db_path: Path, experiment_id: str, campaign: str, trial_config, parent_run_id: str | None):
        self.db_path, self.experiment_id, self.campaign = Path(db_path), experiment_id, campaign
        self.trial_config = trial_config
        self.parent_run_id = parent_run_id
        self.run_ids: dict[str, str] = {}
        self.last_results: dict[str, dict] = {}

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri(self.db_path))

    def _run_for(self, trial) -> str:
        if trial.trial_id in self.run_ids:
            return self.run_ids[trial.trial_id]
        client = self.client
        existing = client.search_runs([self.experiment_id],
                                      f"tags.`{TRIAL_ID_TAG}` = '{trial.trial_id}' and "
                                      f"tags.`{CAMPAIGN_TAG}` = '{self.campaign}'")
        if existing:
            run_id = existing[0].info.run_id
        else:
            cfg = self.trial_config(trial.config)
            tags = {TRIAL_ID_TAG: trial.trial_id, CAMPAIGN_TAG: self.campaign, STATUS_TAG: "running",
                    CONFIG_HASH_TAG: cfg.digest(), "mlflow.runName": f"{self.campaign}-{trial.trial_id}"}
            if self.parent_run_id:
                tags["mlflow.parentRunId"] = self.parent_run_id
            run_id = client.create_run(self.experiment_id, tags=tags).info.run_id
            client.log_batch(run_id, params=config_params(cfg))
            client.log_text(run_id, dump_config(cfg), "config.yaml")
        self.run_ids[trial.trial_id] = run_id
        return run_id

    def on_trial_start(self, iteration, trials, trial, **info):
        self._run_for(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        run_id = self._run_for(trial)
        self.last_results[trial.trial_id] = result
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        timestamp = int(1000 * result.get("timestamp", 0)) or 0
        metrics = [Metric(k, v, timestamp, step) for k, v in numeric_metrics(result).items()]
        self.client.log_batch(run_id, metrics=metrics)

    def _finish(self, trial, errored: bool):
        run_id = self._run_for(trial)
        status = trial_status(self.last_results.get(trial.trial_id), errored)
        client = self.client
        client.log_batch(run_id, tags=[RunTag(STATUS_TAG, status)])
        client.set_terminated(run_id, "FAILED" if status == "failed" else "FINISHED")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finish(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finish(trial, errored=True)


def start_parent_run(client: MlflowClient, experiment_id: str, campaign: str, tags: dict[str, str]) -> str:
    """The campaign's parent run."""
    run = client.create_run(experiment_id, tags={"mlflow.runName": campaign, CAMPAIGN_TAG: campaign, **tags})
    return run.info.run_id
