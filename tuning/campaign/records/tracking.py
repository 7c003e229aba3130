"""MLflow from the campaign driver: a parent run per campaign, a child run per trial, and
back-filling what the live logger missed.

All writes happen in the driver process (a Tune callback), so trials never contend for the
SQLite store, and a trial restarted from its checkpoint keeps writing to its one run.
Back-filling (``sync_trial_runs``) writes from Tune's own files what the live logger missed
(MLflow down, a driver killed between a report and its write); every write is idempotent,
so syncing twice changes nothing.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from tuning.campaign.records.best import RANK_METRIC
from tuning.campaign.records.results import TrialRecord, TrialRow, error_text, trial_status
from tuning.campaign.services.stores import Stores, create_sqlite_whole
from tuning.campaign.space import VARIANT, SearchSpace
from tuning.campaign.statuses import MLFLOW_FINISHED, MLFLOW_RUN_STATUS, MLFLOW_RUNNING, TrialStatus, resume_command
from tuning.campaign.tune_results import TUNE_KEYS, epoch_of, reported_at
from tuning.config import PretrainConfig, dump_config, flatten
from tuning.errors import StoreError
from tuning.run import reports
from tuning.run.checkpoints import BACKBONE_FILE

logger = logging.getLogger("dualtune")


class Tags:
    """Every MLflow tag dualtune writes or reads."""
    TRIAL_ID = "dualtune.trial_id"
    TRIAL_PATH = "dualtune.ray_trial_path"
    TRIAL_STATUS = "dualtune.status"  # a TrialStatus
    CAMPAIGN = "dualtune.campaign"
    CONFIG_HASH = "dualtune.config_hash"
    SPACE = "dualtune.space"
    BEST_TRIAL = "dualtune.best_trial"
    EXPORTED_TO = "dualtune.exported_to"
    CHECKPOINT = "dualtune.checkpoint"
    RESUME = "dualtune.resume"  # on a stopped campaign's runs: the command that continues them
    AT_BOUND = "dualtune.at_bound"  # on a finished campaign's parent run: the best trial's values at a bound
    RUN_NAME = "mlflow.runName"
    PARENT_RUN = "mlflow.parentRunId"


CHECKPOINT_ANALYSES = ("eval", "duality", "analysis")  # prefixes of what is logged later on a trial's saved checkpoint
MAX_METRICS_PER_BATCH = 1000  # MLflow refuses larger log_batch requests
NON_METRIC_KEYS = reports.NOT_SCORES | TUNE_KEYS


EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"  # not MLflow 3's GenAI view
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."  # an experiment tag the UI reads for ?viewStateShareKey=KEY


def open_store(stores: Stores, experiment: str) -> tuple[MlflowClient, str]:
    """A client on the tracking store and the id of ``experiment`` (created if missing, also
    when another campaign creates it at the same moment).  Fails early, naming the store,
    when it cannot be reached, created or written."""
    stores.check_reachable()
    try:
        if stores.artifact_root:
            Path(stores.artifact_root).mkdir(parents=True, exist_ok=True)
        for local_file in stores.local_files():
            local_file.parent.mkdir(parents=True, exist_ok=True)
        if stores.tracking_file() is not None:
            create_sqlite_whole(stores.tracking_file(), lambda partial: MlflowClient(partial).search_experiments())
        client = MlflowClient(stores.tracking_uri)
        return client, _experiment_id(client, experiment, stores.artifact_root)
    except Exception as error:
        raise StoreError(f"cannot open the MLflow store at {stores.tracking_uri}: {error}") from None


def _experiment_id(client: MlflowClient, experiment: str, artifact_root: str | None) -> str:
    found = client.get_experiment_by_name(experiment)
    if found:
        return found.experiment_id
    artifacts = (Path(artifact_root) / experiment).as_uri() if artifact_root else None  # not ./mlruns of the cwd
    try:
        return client.create_experiment(experiment, artifacts, tags={EXPERIMENT_KIND: MODEL_TRAINING})
    except Exception:  # created meanwhile by a campaign sharing the store
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise
        return found.experiment_id


def config_params(cfg: PretrainConfig) -> list[Param]:
    """The full flattened config as MLflow params, plus the derived effective lr."""
    flat = flatten(cfg.model_dump(mode="json"))
    flat["optim.effective_lr"] = cfg.effective_lr()
    return [Param(k, str(v)) for k, v in sorted(flat.items())]


def numeric_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The finite numeric entries of a Tune result that are training metrics (with Tune's
    ``time_total_s``, the trial's own running time)."""
    return {k: float(v) for k, v in result.items()
            if k not in NON_METRIC_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(float(v))}


class CampaignRuns:
    """The MLflow runs of one campaign's trials: found by trial id, created with the full
    config as params, fed each reported epoch, closed with the trial's status.  Every write
    is idempotent, so the live logger and ``dualtune sync`` can both call these."""

    def __init__(self, stores: Stores, experiment_id: str, campaign: str, trial_config,
                 parent_run_id: str | None, runs_dir: Path, provenance: dict[str, str] | None = None):
        self.stores, self.experiment_id, self.campaign = stores, experiment_id, campaign
        self.runs_dir = runs_dir  # the campaign's runs folder, for the commands its tags print
        self.trial_config = trial_config
        self.parent_run_id = parent_run_id
        self.provenance = provenance or {}  # tags of every trial run: code version, data fingerprints
        self.run_ids: dict[str, str] = {}

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(self.stores.tracking_uri)  # MLflow caches the store per URI

    def run_for(self, trial_id: str, sampled: dict[str, Any], trial_path: str) -> str:
        """The trial's run, created if missing, and holding its params and config.yaml (a run
        created just before MLflow went down may lack them)."""
        if trial_id in self.run_ids:
            return self.run_ids[trial_id]
        client = self.client
        existing = client.search_runs([self.experiment_id], f"tags.`{Tags.TRIAL_ID}` = '{trial_id}' and "
                                                            f"tags.`{Tags.CAMPAIGN}` = '{self.campaign}'")
        cfg = self.trial_config(sampled)
        if existing:
            run_id, has_params = existing[0].info.run_id, bool(existing[0].data.params)
        else:
            tags = {**self.provenance, Tags.TRIAL_ID: trial_id, Tags.CAMPAIGN: self.campaign,
                    Tags.TRIAL_STATUS: TrialStatus.RUNNING, Tags.CONFIG_HASH: cfg.digest(),
                    Tags.TRIAL_PATH: str(trial_path), Tags.RUN_NAME: f"{self.campaign}-{trial_id}"}
            if self.parent_run_id:
                tags[Tags.PARENT_RUN] = self.parent_run_id
            run_id, has_params = client.create_run(self.experiment_id, tags=tags).info.run_id, False
        if not has_params:
            client.log_text(run_id, dump_config(cfg), "config.yaml")
            labels = [Param(VARIANT, str(sampled[VARIANT]))] if VARIANT in sampled else []
            client.log_batch(run_id, params=config_params(cfg) + labels)
        self.run_ids[trial_id] = run_id
        return run_id

    def log_results(self, run_id: str, results: list[dict[str, Any]]) -> None:
        """Each result's metrics at step=epoch, stamped with the time the epoch was reported
        (in batches of MLflow's limit of 1000 metrics)."""
        metrics = []
        for result in results:
            step = epoch_of(result)
            timestamp = int(1000 * (reported_at(result) or 0))
            metrics += [Metric(k, v, timestamp, step) for k, v in numeric_metrics(result).items()]
        client = self.client
        for start in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[start:start + MAX_METRICS_PER_BATCH])

    def close(self, run_id: str, status: str, ended_at: float | None = None) -> None:
        """Tag the run with the trial's status and end it at ``ended_at`` (seconds; default
        now).  A run already ended so keeps its end time: a later sync does not stretch the
        trial's duration to the campaign's end."""
        client = self.client
        tags = [RunTag(Tags.TRIAL_STATUS, status)]
        if status == TrialStatus.NO_CAPACITY:
            tags.append(RunTag(Tags.RESUME, resume_command(self.campaign, self.runs_dir, retry_errored=True)))
        client.log_batch(run_id, tags=tags)
        run_status = MLFLOW_RUN_STATUS.get(status, MLFLOW_FINISHED)
        if client.get_run(run_id).info.status != run_status:
            client.set_terminated(run_id, run_status, end_time=int(1000 * ended_at) if ended_at else None)


def mark_stopped(client: MlflowClient, run_id: str, campaign: str, runs_dir: Path) -> None:
    """Show a run of a stopped campaign as killed but resumable, not failed."""
    client.log_batch(run_id, tags=[RunTag(Tags.TRIAL_STATUS, TrialStatus.STOPPED),
                                   RunTag(Tags.RESUME, resume_command(campaign, runs_dir))])
    killed = MLFLOW_RUN_STATUS[TrialStatus.STOPPED]
    if client.get_run(run_id).info.status != killed:
        client.set_terminated(run_id, killed)


def reopen(client: MlflowClient, run_id: str) -> None:
    """A resumed trial's (or campaign's) run is running again."""
    run = client.get_run(run_id)
    if run.info.status != MLFLOW_RUNNING:
        client.update_run(run_id, MLFLOW_RUNNING)
        client.log_batch(run_id, tags=[RunTag(Tags.TRIAL_STATUS, TrialStatus.RUNNING)])
    if Tags.RESUME in run.data.tags:
        client.delete_tag(run_id, Tags.RESUME)


class TrialLogger(tune.Callback):
    """Logs every trial live into its MLflow run (see CampaignRuns).

    MLflow being down must not stop training.  The store retries on its own (SQLite waits
    out a locked database for 20 s; the HTTP client retries with backoff); when a write
    still fails, the logger warns, pauses writes for ``cooldown_s`` so trials are not held
    up, and the campaign's end (or ``dualtune sync``) back-fills what was skipped from
    Tune's results on disk.
    """

    def __init__(self, runs: CampaignRuns, cooldown_s: float = 60.0):
        self.runs, self.cooldown_s = runs, cooldown_s
        self.last_results: dict[str, dict] = {}
        self._paused_until = 0.0

    def _write(self, trial, action) -> None:
        if time.monotonic() < self._paused_until:
            return
        try:
            action(self.runs.run_for(trial.trial_id, trial.config, trial.path))
        except Exception as error:  # any MLflow or database failure: never fail the campaign on it
            self._paused_until = time.monotonic() + self.cooldown_s
            logger.warning("MLflow write for trial %s failed (%s); training goes on, MLflow writes pause for "
                           "%.0f s, and the campaign's end (or `dualtune sync %s`) back-fills what was missed",
                           trial.trial_id, str(error).splitlines()[0], self.cooldown_s, self.runs.campaign)

    def on_trial_start(self, iteration, trials, trial, **info):
        self._write(trial, lambda run_id: reopen(self.runs.client, run_id))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.last_results[trial.trial_id] = result
        self._write(trial, lambda run_id: self.runs.log_results(run_id, [result]))

    def _finish(self, trial, errored: bool):
        status = trial_status(self.last_results.get(trial.trial_id), errored, error_text(trial) if errored else None)
        self._write(trial, lambda run_id: self.runs.close(run_id, status))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._finish(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._finish(trial, errored=True)


def package_versions() -> dict[str, str]:
    """Versions of the stack a campaign ran on, as parent-run tags."""
    from importlib.metadata import PackageNotFoundError, version

    tags = {}
    for package in ("dualtune", "ray", "torch", "torchvision", "optuna", "mlflow", "ffcv", "numba"):
        try:
            tags[f"version.{package}"] = version(package)
        except PackageNotFoundError:
            tags[f"version.{package}"] = "not installed"
    return tags


def view_key(campaign: str) -> str:
    """The share key of a campaign's view in the MLflow UI (``?viewStateShareKey=``)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in campaign)


def ui_path(experiment_id: str, campaign: str | None) -> str:
    """The MLflow UI's address (after the host) of an experiment's runs, or of a campaign's
    shared view of its trials."""
    page = f"#/experiments/{experiment_id}/runs"
    return f"{page}?viewStateShareKey={view_key(campaign)}" if campaign else page


def share_campaign_view(client: MlflowClient, experiment_id: str, campaign: str, space: SearchSpace) -> str:
    """Store the UI view a campaign's link opens: its trial runs (the parent would fold them),
    best first by what picks the best (``RANK_METRIC``, the select linear probe, as export does),
    with the searched params, that score, the search's metric, the probes' test top-1 and the
    status as columns.  Returns the share key."""
    key = view_key(campaign)
    shown = dict.fromkeys([RANK_METRIC, space.metric, reports.ONLINE_TOP1, reports.LINEAR_PROBE_TEST_TOP1,
                           reports.KNN_TEST_TOP1])
    columns = [*(f"params.`{p}`" for p in space.params), *(f"metrics.`{m}`" for m in shown),
               f"tags.`{Tags.TRIAL_STATUS}`"]
    view = {"searchFilter": f"tags.`{Tags.CAMPAIGN}` = '{campaign}' and tags.`{Tags.TRIAL_ID}` != ''",
            "orderByKey": f"metrics.`{RANK_METRIC}`", "orderByAsc": False, "selectedColumns": columns}
    client.set_experiment_tag(experiment_id, f"{SHARED_VIEW_PREFIX}{key}", json.dumps(view))
    return key


def start_parent_run(client: MlflowClient, experiment_id: str, campaign: str, space: SearchSpace,
                     provenance: dict[str, str]) -> str:
    """The campaign's parent run, tagged with the stack's versions and ``provenance``, holding
    the space as it runs (``--set`` values included), the base config its trials start from
    (frozen: see SearchSpace.frozen), its number of trials and sampler options."""
    run_id = client.create_run(experiment_id, tags={Tags.RUN_NAME: campaign, Tags.CAMPAIGN: campaign,
                                                    Tags.SPACE: space.name, **package_versions(),
                                                    **provenance}).info.run_id
    client.log_text(run_id, space.to_yaml(), "search_space.yaml")
    client.log_text(run_id, dump_config(space.base_config()), "base_config.yaml")
    share_campaign_view(client, experiment_id, campaign, space)
    params = {"num_samples": space.num_samples, "max_concurrent_trials": space.max_concurrent_trials,
              "sampler": space.sampler, "metric": space.metric, "mode": space.mode}
    if space.sampler == "tpe":
        params.update({f"sampler.{k}": v for k, v in space.tpe_options().items()})
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    return run_id


def log_baselines(client: MlflowClient, run_id: str, baselines: dict[str, float]) -> None:
    """The campaign's baselines (tuning.run.baselines) as metrics of its parent run."""
    if baselines:
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, 0) for key, value in numeric_metrics(baselines).items()]
        client.log_batch(run_id, metrics=metrics)


def finish_parent_run(client: MlflowClient, run_id: str, trials_csv: str, best: TrialRow | None,
                      exported: Path | None, plots_dir: Path | None, at_bound: list[str] | None = None) -> None:
    """Log the campaign's outcome to its parent run (trials CSV, best trial and config,
    Optuna plots) and close it, its status tag saying so (a resumed campaign's said running)."""
    client.log_text(run_id, trials_csv, "trials.csv")
    if plots_dir is not None:
        client.log_artifacts(run_id, str(plots_dir), "optuna")
    if exported is not None:
        client.log_artifact(run_id, str(exported))
        client.set_tag(run_id, Tags.BEST_TRIAL, best.trial_id)
        for key in (reports.LINEAR_PROBE_TEST_TOP1, reports.ONLINE_TOP1):
            if getattr(best, key) is not None:
                client.log_metric(run_id, f"best_{key}", float(getattr(best, key)))
    if at_bound:
        client.set_tag(run_id, Tags.AT_BOUND, "\n".join(at_bound))
    client.set_tag(run_id, Tags.TRIAL_STATUS, TrialStatus.COMPLETED)
    client.set_terminated(run_id, MLFLOW_FINISHED)


def log_best_model(client: MlflowClient, best: TrialRow, exported: Path | None) -> None:
    """The best trial's trained backbone (``model/backbone.safetensors``) and its runnable config
    (``model/best_config.yaml``) as artifacts of its run, downloadable from the UI.  Plain
    safetensors rather than an MLflow pytorch model: that format pickles the module, which
    cannot be loaded with ``weights_only=True``; these load with safetensors and ``dualtune
    pretrain --config``, without MLflow."""
    backbone = Path(best.checkpoint or "/nowhere") / BACKBONE_FILE
    if backbone.is_file():
        client.log_artifact(best.run_id, str(backbone), "model")
    if exported is not None:
        client.log_artifact(best.run_id, str(exported), "model")


def sync_trial_runs(runs: CampaignRuns, records: list[TrialRecord]) -> dict[str, str]:
    """Make every trial's run hold its params, every reported epoch and, once the trial has
    ended, its final status.  Returns {trial id: run id}."""
    for record in records:
        run_id = runs.run_for(record.trial_id, record.config, str(record.path))
        runs.log_results(run_id, record.results)
        if record.ended:
            runs.close(run_id, record.status, reported_at(record.last))
    return {record.trial_id: runs.run_ids[record.trial_id] for record in records}


def run_of_checkpoint(client: MlflowClient, checkpoint: Path) -> str | None:
    """The trial run that saved ``checkpoint``, if the store has one: the checkpoint lies in
    its Tune trial folder (one-worker trials) or in its Train run's folder, which is named
    like the MLflow run (multi-worker trials)."""
    checkpoint = Path(checkpoint).resolve()
    for run in client.search_runs([e.experiment_id for e in client.search_experiments()],
                                  f"tags.`{Tags.TRIAL_ID}` != ''"):
        trial_path = Path(run.data.tags.get(Tags.TRIAL_PATH, "/nowhere"))
        if trial_path in checkpoint.parents or checkpoint.parent.name == run.data.tags.get(Tags.RUN_NAME):
            return run.info.run_id
    return None


def log_checkpoint_metrics(stores: Stores, checkpoint: Path, metrics: dict[str, float], prefix: str,
                           run_id: str | None = None, params: dict[str, Any] | None = None,
                           artifacts: list[Path] = ()) -> str:
    """Log ``PREFIX/NAME`` metrics (and ``PREFIX.NAME`` params, and files under artifact folder
    ``PREFIX/``) measured on a checkpoint to ``run_id``, else to the trial run that saved it,
    else to a new run in experiment ``PREFIX`` (one of CHECKPOINT_ANALYSES); returns the run's id."""
    client, experiment_id = open_store(stores, prefix)
    run_id = run_id or run_of_checkpoint(client, checkpoint)
    created = run_id is None
    if created:
        run_id = client.create_run(experiment_id, tags={Tags.CHECKPOINT: str(checkpoint)}).info.run_id
    now = int(1000 * time.time())
    client.log_batch(run_id, metrics=[Metric(f"{prefix}/{k}", float(v), now, 0) for k, v in metrics.items()],
                     params=[Param(f"{prefix}.{k}", str(v)) for k, v in (params or {}).items()])
    for path in artifacts:
        client.log_artifact(run_id, str(path), prefix)
    if created:
        client.set_terminated(run_id)
    return run_id
