"""The best trial, one rule everywhere (the campaign's export, ``dualtune export``, ``status``,
replay): the completed trial with the highest select linear probe, a tie to the smaller trial id."""
from __future__ import annotations

from typing import Iterable

from tuning.campaign.records.results import TrialRow
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports

RANK_METRIC = reports.LINEAR_PROBE_SELECT_TOP1  # a choice: scored on select, never on test


def ranking(value: float, trial_id: str, mode: str = "max") -> tuple[float, str]:
    """Sort key of trials, best first: the higher value (the lower with ``mode`` min), then
    (on a tie) the smaller trial id, so the campaign's own export and ``dualtune export``
    pick the same trial."""
    return (-value if mode == "max" else value), trial_id


def best_completed(trials: Iterable[tuple[str, str, float | None]]) -> str | None:
    """The id of the best of ``trials`` (trial id, status, ``RANK_METRIC``): the completed one with
    the highest score, a tie to the smaller id; None when no completed trial has a score."""
    scored = [(score, trial_id) for trial_id, status, score in trials
              if status == TrialStatus.COMPLETED and score is not None]
    return min(scored, key=lambda pair: ranking(*pair))[1] if scored else None


def best_row(rows: list[TrialRow], fallback_metric: str, fallback_mode: str = "max") -> TrialRow | None:
    """The completed trial with the highest linear-probe top-1 (else the best
    ``fallback_metric``, as ``fallback_mode`` says: the campaign's metric and mode)."""
    chosen = best_completed((r.trial_id, r.status, r.metric(RANK_METRIC)) for r in rows)
    if chosen is not None:
        return next(r for r in rows if r.trial_id == chosen)
    completed = [r for r in rows if r.status == TrialStatus.COMPLETED]
    candidates = [r for r in (completed or rows) if r.metric(fallback_metric) is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda r: ranking(r.metric(fallback_metric), r.trial_id, fallback_mode))
