"""Campaigns: Ray Tune + Optuna over pretraining trials, logged to MLflow, best config exported.

``run_campaign`` runs a search space; ``resume_campaign`` continues one whose driver
stopped; ``sync_campaign`` back-fills MLflow from Tune's results; ``run_pretrain`` runs
one fixed config through the same path (a campaign of one trial, a top-level MLflow run).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from ray import tune

from tuning.campaign.paths import RunsFolder, timestamped
from tuning.campaign.records.best import best_row
from tuning.campaign.records.bounds import at_bounds
from tuning.campaign.records.export import export_config
from tuning.campaign.records.plots import StudyPlotsRefresher, write_study_plots
from tuning.campaign.records.progress import CampaignProgress, ProgressDisplay, library_output_to
from tuning.campaign.records.provenance import code_version, data_fingerprints
from tuning.campaign.records.result_log import ResultLog
from tuning.campaign.records.results import (
    CampaignResult,
    TrialRecord,
    TrialRow,
    read_trial_records,
    trial_rows,
    trials_csv,
)
from tuning.campaign.records.tracking import (
    CampaignRuns,
    Tags,
    TrialLogger,
    finish_parent_run,
    log_baselines,
    log_best_model,
    mark_stopped,
    open_store,
    reopen,
    start_parent_run,
    sync_trial_runs,
)
from tuning.campaign.search.control import stop_on_sigterm, write_control
from tuning.campaign.search.scheduler import build_scheduler
from tuning.campaign.search.searcher import build_searcher
from tuning.campaign.search.state import CampaignState
from tuning.campaign.search.trial import TrialContext, run_trial
from tuning.campaign.services import cluster
from tuning.campaign.services.capacity import DEFAULT_CAPACITY_WAIT_S, CapacityWatch
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace, load_preset
from tuning.campaign.statuses import MLFLOW_RUNNING, TrialStatus, extend_command, resume_command
from tuning.campaign.tune_results import epoch_of
from tuning.config import validate_config, with_overrides
from tuning.errors import ConfigError, StoreError
from tuning.run.baselines import cached_baselines
from tuning.run.data import PreparedData, check_user_data, prepare_data

logger = logging.getLogger("dualtune")


@dataclass(frozen=True)
class CampaignOptions:
    """How a campaign's driver runs, for a new campaign, a resume or an extension alike.

    ``runs_dir``: the campaign's folder of folders (state, logs, SQLite stores, Ray results).
    ``address``/``num_cpus``: the Ray cluster to join, or a local one's size.  ``stores``: the
    MLflow and Optuna stores (default: SQLite files under ``runs_dir``; a continued campaign
    keeps those it recorded).  ``time_budget_s``: launch no trial after this long (running ones
    finish).  ``capacity_wait_s``: how long a multi-worker trial that the live nodes cannot
    hold any more (a node lost) waits for room before it ends as ``no_capacity`` (resumable;
    None: the default, or what a continued campaign recorded).  ``show_progress``: the
    terminal's live view, the libraries' output in the campaign's log; ``verbose`` shows it."""
    runs_dir: Path = Path("runs")
    address: str | None = None
    num_cpus: int | None = None
    stores: Stores | None = None
    time_budget_s: float | None = None
    capacity_wait_s: float | None = None
    verbose: int = 0
    show_progress: bool = False
    quiet_until_exit: bool = False

    @property
    def runs(self) -> RunsFolder:
        return RunsFolder(Path(self.runs_dir))


def _tune_output(verbose: int) -> int:
    """Tune's console output for ``verbose``: 0 keeps it quiet (dualtune prints its own summary),
    1 shows Tune's progress table.  Tune's newer output engine ignores 0, so the classic one is used."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    return verbose


class EpochBudget(tune.Stopper):
    """Stops the whole campaign once its trials have trained ``max_total_epochs`` epochs in
    total (distinct trial and epoch pairs: Tune's closing result repeats the last epoch)."""

    def __init__(self, max_total_epochs: int):
        self.max_total_epochs, self.epochs = max_total_epochs, set()

    def __call__(self, trial_id: str, result: dict) -> bool:
        self.epochs.add((trial_id, epoch_of(result)))
        return False

    def stop_all(self) -> bool:
        return len(self.epochs) >= self.max_total_epochs


def _trainable(state: CampaignState):
    context = TrialContext(campaign=state.name, data=state.data, storage=state.storage,
                           capacity_wait_s=state.capacity_wait_s)
    return tune.with_resources(tune.with_parameters(run_trial, space=state.space, context=context),
                               cluster.trial_function_resources(state.space.base_config()))


def _provenance(data: PreparedData) -> dict[str, str]:
    """Tags of the campaign's runs: the code version and the .beton fingerprints."""
    return {**code_version(), **data_fingerprints(data)}


def _campaign_runs(state: CampaignState) -> CampaignRuns:
    return CampaignRuns(state.stores, state.experiment_id, state.name, state.space.trial_config,
                        state.parent_run_id, state.runs.root, _provenance(state.data))


def _run_config(state: CampaignState, verbose: int, display: list[ProgressDisplay]) -> tune.RunConfig:
    """Tune's run config: one-worker trials keep and retry their own checkpoints here;
    multi-worker trials do so in their Train run (see tuning.campaign.search.trial.build_trainer)."""
    cfg = state.space.base_config()
    in_process = cluster.runs_in_trial_process(cfg)
    return tune.RunConfig(
        name=state.tune_name, storage_path=state.storage,
        callbacks=[ResultLog(), TrialLogger(_campaign_runs(state)), *_plot_refresher(state), *display,
                   CapacityWatch(state.space.trial_config, state.name, state.runs.root, state.capacity_wait_s)],
        verbose=verbose, checkpoint_config=tune.CheckpointConfig(num_to_keep=cfg.checkpoint.keep_last),
        stop=EpochBudget(state.space.max_total_epochs) if state.space.max_total_epochs else None,
        failure_config=tune.FailureConfig(max_failures=cfg.checkpoint.max_failures if in_process else 0))


def _plot_refresher(state: CampaignState) -> list[StudyPlotsRefresher]:
    """The live Optuna plots on the parent run (a campaign with a parent run and a search)."""
    if not state.parent_run_id or not state.space.params:
        return []

    def log_plots(folder: Path) -> None:
        open_store(state.stores, state.space.name)[0].log_artifacts(state.parent_run_id, str(folder), "optuna")

    return [StudyPlotsRefresher(lambda: optuna.load_study(study_name=state.name,
                                                          storage=state.stores.study_storage()), log_plots)]


def run_campaign(space: SearchSpace, options: CampaignOptions = CampaignOptions(), *, name: str | None = None,
                 storage: str | None = None, top_level_runs: bool = False) -> CampaignResult:
    """Run ``space`` as a Ray Tune campaign (named ``name``, default SPACE-timestamp) and
    export its best config.

    ``storage`` (default ``RUNS_DIR/ray``) holds Ray's results and checkpoints: on a
    multi-node cluster, a shared path or a URI (``s3://...``) every node can reach.
    ``top_level_runs``: the trials' MLflow runs have no parent (``dualtune pretrain``).
    Everything that can fail on bad input (config, data, MLflow store, resources) is checked
    before the first trial starts.  ``dualtune stop``, SIGINT or SIGTERM stop it resumably.
    """
    started = time.perf_counter()
    runs = options.runs
    space = space.frozen()  # the campaign trains these base values, whatever happens to the file later
    base_cfg = space.base_config()
    campaign = name or timestamped(space.name)
    if runs.state_file(campaign).exists():
        raise StoreError(f"campaign {campaign!r} already exists in {runs.root}; {_how_to_continue(runs, campaign)}")
    stores = options.stores or Stores.default(runs)
    check_user_data(base_cfg)
    _check_outlive_job(runs, stores)
    _warn_ablations(space)
    terminal = _terminal(runs, campaign, options)
    client, experiment_id = open_store(stores, space.name)  # a bad store fails here, before the log
    _check_name_free(client, experiment_id, stores, campaign)
    with terminal:
        cluster.connect(options.address, options.num_cpus)
        cluster.check_fits_or_warn(base_cfg)
        data = prepare_data(base_cfg, runs.data_dir)
        parent_run_id = None if top_level_runs else start_parent_run(client, experiment_id, campaign, space,
                                                                     _provenance(data))
        baselines = {} if top_level_runs else cached_baselines(base_cfg, data, runs.data_dir)
        if parent_run_id:
            log_baselines(client, parent_run_id, baselines)
        state = CampaignState(name=campaign, space=space, runs=runs, data=data, experiment_id=experiment_id,
                              parent_run_id=parent_run_id, storage=_storage_location(storage, runs), stores=stores,
                              capacity_wait_s=options.capacity_wait_s or DEFAULT_CAPACITY_WAIT_S, baselines=baselines)
        state.save()
        return _fit_new_experiment(state, space, options, started, extending=False)


def _check_outlive_job(runs: RunsFolder, stores: Stores) -> None:
    """Inside a Ray job: no runs folder or store file in the job's temporary working directory."""
    cluster.check_outlives_job(runs.root, "--runs-dir")
    for flag, store_file in (("--tracking-uri", stores.tracking_file()), ("--optuna-storage", stores.study_file())):
        if store_file is not None:
            cluster.check_outlives_job(store_file, flag)


def _check_name_free(client, experiment_id: str, stores: Stores, campaign: str) -> None:
    """A new campaign's name is not yet used by another campaign in the (maybe shared) stores."""
    experiments = [e.experiment_id for e in client.search_experiments()] or [experiment_id]
    in_mlflow = client.search_runs(experiments, f"tags.`{Tags.CAMPAIGN}` = '{campaign}'", max_results=1)
    in_optuna = campaign in optuna.get_all_study_names(storage=stores.study_storage())
    if in_mlflow or in_optuna:
        where = stores.tracking_uri if in_mlflow else stores.optuna_storage
        raise StoreError(f"campaign name {campaign!r} is already taken in {where}: choose another --name, or "
                         "continue that campaign with --resume from the runs folder that started it")


def _terminal(runs: RunsFolder, campaign: str, options: CampaignOptions):
    """The libraries' output goes to the campaign's ``driver.log`` (not with ``-v``, nor when
    no progress is shown: a library call keeps its caller's streams)."""
    quiet = options.show_progress and not options.verbose
    if quiet:
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its store set-up notes, printed before the log
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # a server's "View run at" lines
    return library_output_to(runs.driver_log(campaign) if quiet else None, until_exit=options.quiet_until_exit)


def _display(space: SearchSpace, options: CampaignOptions, tune_results: str) -> list[ProgressDisplay]:
    if not options.show_progress:
        return []
    return [ProgressDisplay(CampaignProgress(space.num_samples, space.base_config().schedule.epochs, space.metric,
                                             space.mode), tune_results)]


def _fit_new_experiment(state: CampaignState, space: SearchSpace, options: CampaignOptions, started: float,
                        extending: bool) -> CampaignResult:
    """Run the campaign's newest Tune experiment (the first, or one added by --extend) to its end."""
    control_file = _take_control(state, options.time_budget_s)
    searcher = build_searcher(space, state.name, state.stores, control_file, extending=extending)
    tuner = tune.Tuner(
        _trainable(state),
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=space.num_samples,
                                    scheduler=build_scheduler(space, space.base_config().schedule.epochs,
                                                              state.tune_results),
                                    max_concurrent_trials=space.max_concurrent_trials),
        run_config=_run_config(state, _tune_output(options.verbose), _display(space, options, state.tune_results)),
    )
    tuner.fit()
    return _finish(state, started)


def _take_control(state: CampaignState, time_budget_s: float | None) -> Path:
    """This process becomes the campaign's driver: ``dualtune stop`` and SIGTERM reach it,
    and the searcher reads its launch deadline from the control file."""
    write_control(state.runs, state.name, time_budget_s)
    stop_on_sigterm()
    return state.runs.control_file(state.name)


def _warn_ablations(space: SearchSpace) -> None:
    """Say so up front when the campaign's trials (its base or a searched choice) reproduce a bug."""
    gathers = {space.base_config().loss.gather, *getattr(space.params.get("loss.gather"), "choices", [])}
    if "divided" in gathers:
        divided = validate_config(with_overrides(space.base_tree(), {"loss.gather": "divided"}))
        logger.warning(divided.ablation_warning())


def resume_campaign(campaign: str, options: CampaignOptions = CampaignOptions(), *,
                    retry_errored: bool = False) -> CampaignResult:
    """Continue a campaign whose driver stopped: finished trials are kept, unfinished ones
    resume from their checkpoints (errored ones too with ``retry_errored``), and each trial
    keeps its one MLflow run.  (Tune restores the first run's callbacks: its progress display
    shows again if that run had one.)  ``options.stores``: where the campaign's stores are now,
    if they moved; ``options.capacity_wait_s``: a new wait for room on the live nodes."""
    started = time.perf_counter()
    state = _load_state(options, campaign)
    if _finished(state, retry_errored):
        raise StoreError(f"campaign {campaign!r} has finished: every trial ended, nothing to resume; add trials to "
                         f"it with: {extend_command(campaign, state.runs.root)}")
    _warn_base_changed(state)
    with _terminal(state.runs, campaign, options):
        cluster.connect(options.address, options.num_cpus)
        _reopen_parent_run(state)
        if not tune.Tuner.can_restore(state.tune_results):  # stopped before Tune saved anything: start it
            return _fit_new_experiment(state, state.space, options, started, extending=False)
        _take_control(state, options.time_budget_s)
        _tune_output(options.verbose)
        tuner = tune.Tuner.restore(state.tune_results, trainable=_trainable(state),
                                   resume_unfinished=True, resume_errored=retry_errored)
        tuner.fit()
        return _finish(state, started)


def extend_campaign(campaign: str, num_samples: int, options: CampaignOptions = CampaignOptions()) -> CampaignResult:
    """Add ``num_samples`` trials to a finished campaign: the same Optuna study (its sampler
    learns from every earlier trial and does not replay its first draws), the same MLflow
    parent run, one more Tune experiment in the campaign's state."""
    started = time.perf_counter()
    state = _load_state(options, campaign)
    if not state.space.params or state.space.sampler == "grid":
        raise ConfigError(f"campaign {campaign!r} searches nothing more (a grid, or no parameters): "
                          "it has run its whole space")
    if not all(record.ended for record in _records(state)):
        raise StoreError(f"campaign {campaign!r} has unfinished trials; continue them first: "
                         f"{resume_command(campaign, state.runs.root)}")
    _warn_base_changed(state)
    with _terminal(state.runs, campaign, options):
        cluster.connect(options.address, options.num_cpus)
        state = dataclasses.replace(state, extensions=state.extensions + 1)
        state.save()
        _reopen_parent_run(state)
        space = state.space.model_copy(update={"num_samples": num_samples})
        return _fit_new_experiment(state, space, options, started, extending=True)


def _load_state(options: CampaignOptions, campaign: str) -> CampaignState:
    """The campaign's saved state, with its stores and capacity wait changed (and saved) when given."""
    state = CampaignState.load(options.runs, campaign)
    changed = {"stores": options.stores, "capacity_wait_s": options.capacity_wait_s}
    changed = {k: v for k, v in changed.items() if v is not None and v != getattr(state, k)}
    if changed:
        state = dataclasses.replace(state, **changed)
        state.save()
    return state


def _warn_base_changed(state: CampaignState) -> None:
    """One warning when the campaign's base file has changed since it started: its trials keep
    the values the campaign started with."""
    changes = state.space.base_changes()
    if changes:
        listed = ", ".join(f"{key} (kept {kept!r}, file now {now!r})" for key, (kept, now) in changes.items())
        logger.warning("the base config %r of campaign %r has changed since it started: %s; its trials keep the "
                       "values it started with (start a new campaign to train the new ones)",
                       state.space.base, state.name, listed)


def _reopen_parent_run(state: CampaignState) -> None:
    if state.parent_run_id:
        reopen(open_store(state.stores, state.space.name)[0], state.parent_run_id)


def _finished(state: CampaignState, retry_errored: bool = False) -> bool:
    """Every trial ended for good (none waits for room: no_capacity; none failed, when errored
    trials are to be retried), and the campaign launched all it was to (its num_samples, or its
    epoch budget spent); an extended campaign counts as finished once its trials have all ended."""
    records = _records(state)
    resumable = {TrialStatus.NO_CAPACITY, *([TrialStatus.FAILED] if retry_errored else [])}
    if not records or not all(record.ended and record.status not in resumable for record in records):
        return False
    budget = state.space.max_total_epochs
    return (state.extensions > 0 or len(records) >= state.space.num_samples
            or (budget is not None and sum(r.epochs for r in records) >= budget))


def _how_to_continue(runs: RunsFolder, campaign: str) -> str:
    """The command that continues an existing campaign: resume it, or extend it once it has finished."""
    state = CampaignState.load(runs, campaign)
    if _finished(state):
        return f"it has finished; add trials to it with: {extend_command(campaign, runs.root)}"
    return f"resume it with: {resume_command(campaign, runs.root)}"


def _records(state: CampaignState) -> list[TrialRecord]:
    """Every trial of every Tune experiment of the campaign."""
    return [record for results in state.all_tune_results for record in read_trial_records(results)]


def sync_campaign(campaign: str, runs_dir: str | Path = "runs", stores: Stores | None = None) -> CampaignResult:
    """Back-fill a campaign's MLflow runs from Tune's results on disk (after an MLflow
    outage or a killed driver); closes the parent run once every trial has ended."""
    started = time.perf_counter()
    state = _load_state(CampaignOptions(runs_dir=Path(runs_dir), stores=stores), campaign)
    open_store(state.stores, state.space.name)  # a clear error if the store is still unusable
    return _finish(state, started)


def _finish(state: CampaignState, started: float) -> CampaignResult:
    """Bring MLflow up to date with Tune's results, export the best config and, when every
    trial has ended, close the parent run.  An MLflow failure here is a warning: the
    results stay on disk for ``dualtune sync``."""
    records = _records(state)
    param_names = list(state.space.params)
    try:
        run_ids = sync_trial_runs(_campaign_runs(state), records)
    except Exception as error:  # MLflow or its database is down: training results are safe on disk
        logger.warning("could not update MLflow (%s); run `dualtune sync %s` once it is back",
                       str(error).splitlines()[0], state.name)
        run_ids = None
    rows = trial_rows(records, state.name, run_ids or {}, param_names, state.storage)
    best = best_row(rows, state.space.metric, state.space.mode)
    at_bound = [str(note) for note in at_bounds(state.space, best.sampled)] if best else []
    exported = _export_best(state, best) if best is not None else None
    synced = run_ids is not None
    unfinished = [record.trial_id for record in records if not record.ended]
    if synced:
        try:
            if unfinished:
                _mark_campaign_stopped(state, [run_ids[t] for t in unfinished])
            else:
                _close_campaign_runs(state, rows, best, exported, at_bound)
        except Exception as error:  # as above
            logger.warning("could not finish the MLflow parent run (%s); run `dualtune sync %s` later",
                           str(error).splitlines()[0], state.name)
            synced = False
    return CampaignResult(name=state.name, rows=rows, tracking_uri=state.stores.tracking_uri,
                          experiment=state.space.name, experiment_id=state.experiment_id,
                          parent_run_id=state.parent_run_id, best=best, exported=exported,
                          runs_dir=state.runs.root, storage=state.storage,
                          wall_time_s=time.perf_counter() - started, param_names=param_names, mlflow_synced=synced,
                          unfinished=len(unfinished), baselines=state.baselines, at_bound=at_bound)


def _mark_campaign_stopped(state: CampaignState, run_ids: list[str]) -> None:
    """The campaign was stopped (or its driver lost) with trials unfinished: their runs (those
    that reported, and those started but stopped before their first report) and the parent run
    show as killed but resumable."""
    client, experiment_id = open_store(state.stores, state.space.name)
    started = client.search_runs([experiment_id], f"tags.`{Tags.CAMPAIGN}` = '{state.name}' and "
                                                  f"attributes.status = '{MLFLOW_RUNNING}'")
    for run_id in {*run_ids, *(run.info.run_id for run in started)}:
        mark_stopped(client, run_id, state.name, state.runs.root)


def _export_best(state: CampaignState, best: TrialRow) -> Path:
    provenance = {"campaign": state.name, "trial_id": best.trial_id, "mlflow_run_id": best.run_id,
                  "tracking_uri": state.stores.tracking_uri, "optuna_storage": state.stores.optuna_storage,
                  "checkpoint": best.checkpoint}
    return export_config(state.space.trial_config(best.sampled), state.runs.best_config(state.name), provenance)


def _storage_location(storage: str | None, runs: RunsFolder) -> str:
    """Ray's storage: a URI as given, a local path made absolute (Ray and pyarrow need that)."""
    if storage is None:
        return str(runs.ray_storage)
    return storage if "://" in storage else str(Path(storage).resolve())


def _close_campaign_runs(state: CampaignState, rows: list[TrialRow], best: TrialRow | None,
                         exported: Path | None, at_bound: list[str]) -> None:
    client = open_store(state.stores, state.space.name)[0]
    if best is not None and best.run_id:
        client.set_tag(best.run_id, Tags.EXPORTED_TO, str(exported))
        log_best_model(client, best, exported)
    if not state.parent_run_id:
        return
    with tempfile.TemporaryDirectory() as tmp:
        plots_dir = None
        if state.space.params:
            study = optuna.load_study(study_name=state.name, storage=state.stores.study_storage())
            plots_dir = Path(tmp) / "optuna"
            write_study_plots(study, plots_dir)
        finish_parent_run(client, state.parent_run_id, trials_csv(rows, list(state.space.params)), best,
                          exported, plots_dir, at_bound)


def run_pretrain(config_source: str, options: CampaignOptions = CampaignOptions(), *,
                 overrides: dict[str, Any] | None = None, experiment: str = "pretrain", name: str | None = None,
                 storage: str | None = None) -> CampaignResult:
    """One pretraining of a preset or config file (with dotted ``overrides``), through the same
    Tune path as a campaign trial, logged as a top-level MLflow run in ``experiment``."""
    settings = ", ".join(f"{key}={value}" for key, value in (overrides or {}).items())
    validate_config(with_overrides(load_preset(config_source).model_dump(mode="json"), overrides or {}),
                    source=f"{config_source}" + (f" with {settings}" if settings else ""))  # named as the user gave it
    space = SearchSpace(name=experiment, base=config_source, overrides=overrides or {}, num_samples=1,
                        scheduler={"type": "fifo"})
    space.check()
    return run_campaign(space, options, name=name or timestamped("pretrain"), storage=storage, top_level_runs=True)
