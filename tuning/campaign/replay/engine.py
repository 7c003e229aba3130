"""Play recorded curves to the real decision-makers: the space's Ray Tune scheduler (FIFO, ASHA,
async Hyperband) and the campaign's Optuna searcher (``CampaignSearch``), in a small event loop that
keeps the recorded epoch times and the campaign's concurrency.

The loop calls the scheduler and the searcher as Tune's controller does: each epoch's result goes
to ``scheduler.on_trial_result``; unless that says STOP it goes on to ``searcher.on_trial_result``;
a trial that the scheduler stops, or that reports its last epoch, is completed on both.  Trials
are real Tune ``Trial`` objects (stubs: nothing runs them).  A trial's recorded epoch costs its
training time plus the time its select scores took; its last epoch adds the final evaluation.
Concurrent trials run side by side: the next event is the running trial whose next epoch ends
first (ties: the trial started first), and a freed slot is filled at once."""
from __future__ import annotations

import heapq
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from tuning.campaign.records.best import best_row
from tuning.campaign.records.results import TrialRow, trial_status
from tuning.campaign.replay.table import Curve
from tuning.campaign.search.scheduler import build_scheduler
from tuning.campaign.search.searcher import campaign_search
from tuning.campaign.space import SearchSpace
from tuning.campaign.statuses import TrialStatus
from tuning.campaign.tune_results import TRAINING_ITERATION
from tuning.run import reports

COST_KEYS = ("epoch_time_s", "select_time_s", "rung_probes_time_s")
"""What one recorded epoch cost, in seconds; the last epoch adds ``eval_time_s``."""


def epoch_seconds(curve: Curve, epoch: int) -> float:
    """The recorded wall time of ``epoch`` (1-based) of ``curve``."""
    report = curve.report(epoch)
    seconds = sum(report.get(key) or 0.0 for key in COST_KEYS)
    return seconds + (report.get("eval_time_s") or 0.0 if epoch == len(curve.epochs) else 0.0)


@dataclass
class ReplayedTrial:
    """One trial of a replayed campaign: its sampled values, the epochs it trained, how it ended,
    its last report, and when (seconds, epochs spent by the whole campaign) it ended."""
    trial_id: str
    sampled: dict[str, Any]
    epochs: int = 0
    status: TrialStatus = TrialStatus.RUNNING
    last: dict[str, Any] = field(default_factory=dict)
    ended_at_s: float | None = None
    ended_at_epoch: int | None = None
    too_short: bool = False

    def row(self) -> TrialRow:
        """The trial as export sees it (to pick the best with export's own rule)."""
        return TrialRow(trial_id=self.trial_id, status=self.status, sampled=self.sampled, params=self.sampled,
                        **{key: self.last.get(key) for key in (reports.LINEAR_PROBE_SELECT_TOP1,
                                                               reports.LINEAR_PROBE_TEST_TOP1,
                                                               reports.ONLINE_TOP1)})


@dataclass
class Replayed:
    """A replayed campaign: its trials in launch order, every epoch's (seconds, epochs spent), and
    the campaign's metric (export's fallback when no trial completed)."""
    trials: list[ReplayedTrial]
    clock: list[tuple[float, int]]
    metric: str

    @property
    def epochs(self) -> int:
        return sum(trial.epochs for trial in self.trials)

    def incumbent(self, by_epoch: int | None = None) -> ReplayedTrial | None:
        """The trial export would pick among those that had ended once ``by_epoch`` epochs were
        spent (None: all): the completed one with the best select linear probe."""
        ended = [t for t in self.trials if t.status.ended and (by_epoch is None or t.ended_at_epoch <= by_epoch)]
        row = best_row([t.row() for t in ended], self.metric)
        return next(t for t in ended if t.trial_id == row.trial_id) if row else None


@dataclass(order=True)
class _Running:
    ends_at: float
    order: int
    trial: Trial = field(compare=False)
    replayed: ReplayedTrial = field(compare=False)
    curve: Curve = field(compare=False)


CurveOf = Callable[[str, dict[str, Any]], Curve]
"""The recorded curve of a trial (its replay id: its launch index, and its sampled values);
TableError when there is none."""


class FixedOrder:
    """Stands in for the searcher when replaying a finished campaign: its own trials' sampled
    values, in the order they ran (a sampler that learns might have chosen others)."""

    def __init__(self, configs: Sequence[dict[str, Any]]):
        self.configs = list(configs)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        index = int(trial_id)
        return self.configs[index] if index < len(self.configs) else None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        pass

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass


SLOW_SPACE_WARNING = "Define-by-run function passed in the `space` argument took"
"""Ray's OptunaSearch warns when a suggestion takes over a second, as if the space trained; a GP
sampler's refit past 100 trials takes that long by itself."""


def replay(space: SearchSpace, curve_of: CurveOf, epochs: int, *, max_epochs: int | None = None,
           configs: Sequence[dict[str, Any]] | None = None) -> Replayed:
    """Replay a campaign of ``space`` (its sampler, scheduler, seed, metric, starting points,
    num_samples and concurrency) over trials of ``epochs`` epochs, each trial playing
    ``curve_of(its sampled values)``.  ``max_epochs``: launch no trial once the campaign has
    spent this many epochs, and end the running ones there (None: no budget but num_samples).
    ``configs``: the trials' sampled values in order, instead of the space's sampler.  A trial whose
    curve ends (it was stopped when it was recorded) while the scheduler would go on is marked
    ``too_short``: replay cannot tell what it would have reported next."""
    logging.getLogger("optuna").setLevel(logging.WARNING)
    np.random.seed(space.seed)  # Tune's async Hyperband draws each trial's bracket from numpy's global state
    searcher = FixedOrder(configs) if configs is not None else campaign_search(space, "replay")
    tune_scheduler = build_scheduler(space, epochs)
    slots = space.max_concurrent_trials
    running: list[_Running] = []
    trials: list[ReplayedTrial] = []
    clock: list[tuple[float, int]] = []
    now, spent, exhausted = 0.0, 0, False

    def within_budget() -> bool:
        return max_epochs is None or spent < max_epochs

    while True:
        while not exhausted and len(running) < slots and len(trials) < space.num_samples and within_budget():
            trial_id = f"{len(trials):05d}"
            with warnings.catch_warnings():  # a model-based sampler's seconds are the search's, not a slow space
                warnings.filterwarnings("ignore", message=SLOW_SPACE_WARNING)
                sampled = searcher.suggest(trial_id)
            if sampled is None or sampled == Searcher.FINISHED:
                exhausted = True
                break
            curve = curve_of(trial_id, sampled)
            trial = Trial("replay", config=sampled, trial_id=trial_id, stub=True)
            tune_scheduler.on_trial_add(None, trial)
            replayed = ReplayedTrial(trial_id, sampled)
            trials.append(replayed)
            heapq.heappush(running, _Running(now + epoch_seconds(curve, 1), len(trials), trial, replayed, curve))
        if not running:
            return Replayed(trials, clock, space.metric)
        event = heapq.heappop(running)
        now, spent = event.ends_at, spent + 1
        clock.append((now, spent))
        done = event.replayed
        done.epochs += 1
        result = {**event.curve.report(done.epochs), TRAINING_ITERATION: done.epochs, "trial_id": done.trial_id}
        done.last = result
        decision = tune_scheduler.on_trial_result(None, event.trial, result)
        if decision != TrialScheduler.STOP:
            searcher.on_trial_result(done.trial_id, result)
        if decision == TrialScheduler.STOP or done.epochs == len(event.curve.epochs) and event.curve.ended:
            _end(done, result, now, spent, tune_scheduler, searcher, event.trial)
        elif done.epochs == len(event.curve.epochs):
            done.too_short = True
            _end(done, result, now, spent, tune_scheduler, searcher, event.trial, status=TrialStatus.STOPPED)
        elif not within_budget():
            _end(done, result, now, spent, tune_scheduler, searcher, event.trial, status=TrialStatus.STOPPED)
        else:
            event.ends_at = now + epoch_seconds(event.curve, done.epochs + 1)
            heapq.heappush(running, event)
        if not within_budget():
            for other in running:
                _end(other.replayed, other.replayed.last, now, spent, tune_scheduler, searcher, other.trial,
                     status=TrialStatus.STOPPED)
            running.clear()


def _end(replayed: ReplayedTrial, result: dict, now: float, spent: int, scheduler: TrialScheduler,
         searcher, trial: Trial, status: TrialStatus | None = None) -> None:
    replayed.status = status or trial_status(result, errored=False)
    replayed.ended_at_s, replayed.ended_at_epoch = now, spent
    if replayed.status == TrialStatus.STOPPED:
        return  # the campaign ended around it: nothing is told, as when a campaign stops
    scheduler.on_trial_complete(None, trial, result)
    searcher.on_trial_complete(replayed.trial_id, result)
