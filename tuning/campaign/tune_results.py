"""Ray Tune's own words, in one place: the keys Tune adds to every result, the file it records
them in, the states of a Tune trial, and the two readings every reader of a result needs (the
epoch it is of, the time it was reported).  The loop's own keys are tuning.run.reports'."""
from __future__ import annotations

from typing import Any, Iterable

from tuning.run import reports

TRAINING_ITERATION = "training_iteration"  # Tune's count of a trial's results: the scheduler's clock
TIME_TOTAL_S = "time_total_s"  # the trial's own running time so far
TIMESTAMP = "timestamp"
RESULT_FILE = "result.json"  # a trial's results, a line each, in its folder
TUNE_KEYS = frozenset({"trial_id", TRAINING_ITERATION, TIMESTAMP, "time_this_iter_s", "time_since_restore",
                       "iterations_since_restore", "pid", "node_ip", "done", "checkpoint_dir_name", "date",
                       "hostname", "experiment_tag", "config"})
"""What Tune adds to a result beside the loop's report (``TIME_TOTAL_S`` apart: it is logged)."""

LIVE_STATES = frozenset({"RUNNING", "PENDING"})  # a Tune trial that may still train
ENDED_STATES = frozenset({"TERMINATED", "ERROR"})  # a Tune trial that has ended


def epoch_of(result: dict[str, Any]) -> int:
    """The epoch a result is of: the loop's own count, else Tune's (a result from before the loop kept one)."""
    return int(result.get(reports.EPOCH, result.get(TRAINING_ITERATION, 0)))


def epochs_trained(epochs: Iterable[int]) -> int:
    """How many epochs a trial trained, from the epochs of its records (result.json lines, MLflow
    steps): each epoch counts once, however often it was delivered.  Every view counts with this."""
    return len(set(epochs))


def with_epoch_clock(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with Tune's iteration set to its epoch: ASHA times its cuts by the iteration,
    and Tune's own count restarts at 1 when a trial is restored from a checkpoint."""
    return {**result, TRAINING_ITERATION: epoch_of(result)}


def reported_at(result: dict[str, Any]) -> float | None:
    """When a result was reported (Unix seconds): the loop's own stamp, else Tune's."""
    return result.get(reports.REPORTED_AT, result.get(TIMESTAMP))
