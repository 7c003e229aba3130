"""Optuna behind Ray Tune: the sampler a space asks for, a study in the campaign's Optuna
storage (tuning.campaign.services.stores), and each trial's real outcome told to the study.

Tune's stock OptunaSearch tells an ASHA-stopped trial as COMPLETE with its truncated value
and crashes when a restored driver re-delivers a trial that the persistent study already
closed.  ``CampaignSearch`` tells COMPLETE / PRUNED (early-stopped; Optuna then ranks it
by its last intermediate value, as TPE expects) / FAIL (diverged or failed), records the
status as a user attribute, and ignores reports for trials the study already finished.
"""
from __future__ import annotations

import time
from pathlib import Path

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from tuning.campaign.private_apis import (
    optuna_reported_steps,
    optuna_study_of,
    optuna_trial_finished,
    optuna_trial_of,
    told_trials,
)
from tuning.campaign.records.results import trial_status
from tuning.campaign.search.control import launch_deadline
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace
from tuning.campaign.statuses import TrialStatus
from tuning.campaign.tune_results import epoch_of

STATUS_ATTR = "dualtune_status"
OPTUNA_STATES = {TrialStatus.COMPLETED: TrialState.COMPLETE, TrialStatus.EARLY_STOPPED: TrialState.PRUNED,
                 TrialStatus.DIVERGED: TrialState.FAIL, TrialStatus.FAILED: TrialState.FAIL}


class TuneGridSampler(optuna.samplers.GridSampler):
    """A grid sampler that leaves the end of the grid to Tune (num_samples is the grid's size):
    Optuna's own calls ``Study.stop()`` after the last point, which raises outside
    ``study.optimize`` (and Tune drives the trials, not ``optimize``)."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def build_sampler(space: SearchSpace) -> optuna.samplers.BaseSampler:
    """TPE (default; with the space's ``tpe`` options), random, Gaussian process (as many random
    start-up trials as TPE), or grid over the space's categorical parameters; seeded."""
    if space.sampler == "grid":
        return TuneGridSampler({n: p.choices for n, p in space.params.items()}, seed=space.seed)
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=space.seed)
    if space.sampler == "gp":
        return optuna.samplers.GPSampler(seed=space.seed, n_startup_trials=space.tpe_options()["n_startup_trials"])
    return optuna.samplers.TPESampler(seed=space.seed, **space.tpe_options())


class CampaignSearch(OptunaSearch):
    """OptunaSearch that tells the study how each trial really ended (see module docstring),
    and launches no trial after the deadline in the campaign's control file (``--time-budget``)."""

    control_file: Path | None = None

    def suggest(self, trial_id: str):
        deadline = launch_deadline(self.control_file) if self.control_file else None
        if deadline is not None and time.time() >= deadline:
            return Searcher.FINISHED
        return super().suggest(trial_id)

    def _already_finished(self, trial_id: str) -> bool:
        ot_trial = optuna_trial_of(self, trial_id)
        return ot_trial is None or optuna_trial_finished(ot_trial)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Tell the study an epoch's value once: a resumed trial may deliver an epoch again."""
        if self._already_finished(trial_id):
            return
        if epoch_of(result) in optuna_reported_steps(optuna_trial_of(self, trial_id)):
            return
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        told = told_trials(self)
        if trial_id in told or self._already_finished(trial_id):
            told.add(trial_id)
            return
        status = trial_status(result, error)
        state = OPTUNA_STATES[status]
        value = result.get(self.metric) if state == TrialState.COMPLETE else None
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL
        ot_trial = optuna_trial_of(self, trial_id)
        ot_trial.set_user_attr(STATUS_ATTR, status)
        optuna_study_of(self).tell(ot_trial, value, state=state)
        told.add(trial_id)


def build_searcher(space: SearchSpace, study_name: str, stores: Stores, control_file: Path | None = None,
                   extending: bool = False) -> CampaignSearch | None:
    """The campaign's searcher over ``space`` (None when the space has no parameters).
    ``extending`` continues the study: no starting points again, and a sampler seed moved on
    by the study's trial count, so a seeded sampler does not replay its first draws."""
    if not space.params:
        return None
    if extending:
        done = len(optuna.load_study(study_name=study_name, storage=stores.study_storage()).trials)
        space = space.model_copy(update={"seed": space.seed + done, "points_to_evaluate": []})
    searcher = campaign_search(space, study_name, stores.study_storage())
    searcher.control_file = control_file
    return searcher


def campaign_search(space: SearchSpace, study_name: str, storage=None) -> CampaignSearch:
    """The searcher over ``space``'s parameters, its study in ``storage`` (None: in memory, as replay uses it)."""
    points = [space.optuna_point(point) for point in space.points_to_evaluate]
    return CampaignSearch(space=space.define_by_run, metric=space.metric, mode=space.mode, sampler=build_sampler(space),
                          study_name=study_name, storage=storage, points_to_evaluate=points or None)
