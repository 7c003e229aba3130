"""The best trial, one rule everywhere (the campaign's export, ``dualtune export``, ``status``,
replay): the completed trial with the highest select linear probe, a tie to the smaller trial id."""
from __future__ import annotations

from typing import Iterable, NamedTuple

from tuning.campaign.records.results import TrialRow
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports

RANK_METRIC = reports.LINEAR_PROBE_SELECT_TOP1  # a choice: scored on select, never on test


def ranking(value: float, trial_id: str, mode: str = "max") -> tuple[float, str]:
    """Sort key of trials, best first: the higher value (the lower with ``mode`` min), then
    (on a tie) the smaller trial id, so the campaign's own export and ``dualtune export``
    pick the same trial."""
    return (-value if mode == "max" else value), trial_id


class Scored(NamedTuple):
    """A trial as the rule reads it: its id, its status, its ``RANK_METRIC`` and its campaign's metric."""
    trial_id: str
    status: str
    rank_score: float | None
    metric_score: float | None


def best_of(trials: Iterable[Scored], metric_mode: str = "max") -> str | None:
    """The id of the best trial: the completed one with the highest ``RANK_METRIC`` (a tie to the
    smaller id); while none has one, the best by the campaign's metric (``metric_mode``) among the
    completed, else among all; None when nothing is scored."""
    trials = list(trials)
    completed = [t for t in trials if t.status == TrialStatus.COMPLETED]
    scored = [(t.rank_score, t.trial_id) for t in completed if t.rank_score is not None]
    if scored:
        return min(scored, key=lambda pair: ranking(*pair))[1]
    fallback = [(t.metric_score, t.trial_id) for t in (completed or trials) if t.metric_score is not None]
    return min(fallback, key=lambda pair: ranking(*pair, metric_mode))[1] if fallback else None


def best_row(rows: list[TrialRow], fallback_metric: str, fallback_mode: str = "max") -> TrialRow | None:
    """The best of ``rows`` by ``best_of``, the campaign's metric and mode as its fallback."""
    chosen = best_of((Scored(r.trial_id, r.status, r.metric(RANK_METRIC), r.metric(fallback_metric)) for r in rows),
                     fallback_mode)
    return next(r for r in rows if r.trial_id == chosen) if chosen is not None else None
