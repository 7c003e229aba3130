"""The campaign's Tune scheduler: FIFO, or asynchronous successive halving (ASHA, Hyperband)
that remembers its rungs across a stop and resume.

Tune saves the searcher with a campaign's state but not the scheduler: a resumed driver's ASHA
would start with empty rungs, pass every trial its first rung unopposed and cut later ones against
a partial record.  ``ResumableAsha`` fills its rungs from the trials' recorded results (Tune's
``result.json`` files) before it judges the first trial of a resumed campaign, in the order the
results were reported, so that it cuts exactly where the campaign never stopped would have.
"""
from __future__ import annotations

from types import SimpleNamespace

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from tuning.campaign.private_apis import asha_brackets
from tuning.campaign.records.results import TrialRecord, read_trial_records
from tuning.campaign.space import SearchSpace
from tuning.campaign.tune_results import TRAINING_ITERATION, epoch_of, reported_at


class ResumableAsha(AsyncHyperBandScheduler):
    """ASHA whose rungs are refilled from ``records_of()`` (the campaign's recorded trials) the
    first time it meets a trial; a new campaign has none, so it starts empty as Tune's does."""

    def __init__(self, *args, tune_results: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tune_results = tune_results
        self._refilled = False
        self._bracket_of: dict[str, int] = {}

    def records_of(self) -> list[TrialRecord]:
        if not self.tune_results:
            return []
        try:
            return read_trial_records(self.tune_results)
        except (FileNotFoundError, ValueError, OSError):  # a new campaign: no experiment state yet
            return []

    def refill(self, records: list[TrialRecord]) -> None:
        """Put every recorded result in its rung, oldest report first, as ASHA met them."""
        brackets = asha_brackets(self)
        results = sorted(((reported_at(r) or 0.0, epoch_of(r), record.trial_id, r)
                          for record in records for r in record.results), key=lambda item: item[:3])
        for _, epoch, trial_id, result in results:
            if self._metric not in result:
                continue
            index = self._bracket_of.setdefault(trial_id, len(self._bracket_of) % len(brackets))
            brackets[index].on_result(SimpleNamespace(trial_id=trial_id), epoch, self._metric_op * result[self._metric])

    def on_trial_add(self, tune_controller, trial) -> None:
        if not self._refilled:
            self._refilled = True
            self.refill(self.records_of())
        super().on_trial_add(tune_controller, trial)
        if trial.trial_id in self._bracket_of:  # a recorded trial keeps the bracket its results are in
            self._trial_info[trial.trial_id] = asha_brackets(self)[self._bracket_of[trial.trial_id]]


def build_scheduler(space: SearchSpace, epochs: int, tune_results: str | None = None) -> TrialScheduler:
    """The space's Tune scheduler for trials of ``epochs`` epochs: FIFO, or asynchronous successive
    halving on the space's metric at every epoch (one bracket for asha, ``brackets`` for hyperband).
    ``tune_results``: the campaign's Tune results folder, whose recorded trials refill the rungs
    when the campaign is resumed."""
    spec = space.scheduler
    if not spec.stops_early or not space.params:
        return FIFOScheduler()
    return ResumableAsha(metric=space.metric, mode=space.mode, time_attr=TRAINING_ITERATION, max_t=epochs,
                         grace_period=min(spec.grace_period, epochs), reduction_factor=spec.reduction_factor,
                         brackets=spec.brackets if spec.type == "hyperband" else 1, tune_results=tune_results)
