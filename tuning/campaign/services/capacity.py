"""Trials that the cluster's live nodes can no longer hold (a node lost mid-campaign, a
spot node taken back): how long they wait for capacity, the one line that says so, and the
resumable end they get.

A multi-worker trial that the live nodes cannot hold any more waits ``capacity_wait_s`` (an
autoscaler may add nodes meanwhile), then ends with ``NoCapacityError``: status
``no_capacity``, its MLflow run KILLED with the command that continues it, the campaign
going on with its other trials.  Its coordinator (the Tune function and Train's
controller) runs on the head node, next to the driver, so losing a worker node never takes
the coordinator with it.  ``CapacityWatch`` says so in the driver, in one line, as soon as
the live nodes cannot hold a trial.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ray import tune

from tuning.campaign.services import cluster
from tuning.campaign.statuses import TrialStatus, resume_command
from tuning.campaign.tune_results import LIVE_STATES
from tuning.errors import ClusterError

logger = logging.getLogger("dualtune")

NO_CAPACITY_MARK = "dualtune: no capacity for this trial"
DEFAULT_CAPACITY_WAIT_S = 600.0


class NoCapacityError(RuntimeError):
    """A trial's workers found no room on the live nodes within the campaign's capacity wait."""


def capacity_shortfall(cfg, nodes: list[dict[str, float]] | None = None) -> str | None:
    """None when the live nodes (``nodes``; default: asked of Ray), emptied, could hold one
    trial of ``cfg``; else what cluster.check_fits says is missing."""
    try:
        cluster.check_fits(cfg, nodes)
    except ClusterError as error:
        return str(error).split("; ")[0]
    return None


def fit_while_it_fits(trainer, cfg, capacity_wait_s: float, every_s: float = 5.0):
    """``trainer.fit()``, watched from the trial's own thread: when the live nodes cannot hold
    the trial (a node lost) for ``capacity_wait_s`` running, raise NoCapacityError; the trial
    process then ends, and with it the Train run it owns.  Waiting for room that other trials
    hold is not a lack of capacity: Train waits for it as long as it takes."""
    outcome: dict = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as error:  # handed to the trial's thread below
            outcome["error"] = error

    thread = threading.Thread(target=fit, name="dualtune-train-fit", daemon=True)
    thread.start()
    short_since = None
    while True:
        thread.join(every_s)
        if not thread.is_alive():
            break
        if capacity_shortfall(cfg) is None:
            short_since = None
        elif short_since is None:
            short_since = time.monotonic()
        elif time.monotonic() - short_since >= capacity_wait_s:
            raise NoCapacityError(f"{NO_CAPACITY_MARK}: the live nodes could not hold its {cfg.resources.workers} "
                                  f"workers for {capacity_wait_s:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def is_no_capacity(error_text: str | None) -> bool:
    """Whether a trial's recorded error is the end of its capacity wait."""
    return bool(error_text) and NO_CAPACITY_MARK in error_text


class CapacityWatch(tune.Callback):
    """In the driver: every ``every_s`` seconds, checks each running trial against the live
    nodes and says in one line when they can no longer hold it (what it needs, what is
    left, how long it waits) and when they can again."""

    def __init__(self, trial_config, campaign: str, runs_dir: Path, capacity_wait_s: float, every_s: float = 5.0):
        self.trial_config, self.campaign, self.runs_dir = trial_config, campaign, runs_dir
        self.capacity_wait_s, self.every_s = capacity_wait_s, every_s
        self.waiting: set[str] = set()
        self._next_check = 0.0

    def on_step_begin(self, iteration, trials, **info):
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + self.every_s
        nodes = cluster.alive_nodes()
        for trial in trials:
            if trial.status not in LIVE_STATES:
                self.waiting.discard(trial.trial_id)
                continue
            cfg = self.trial_config(trial.config)
            missing = capacity_shortfall(cfg, nodes)
            if missing and trial.trial_id not in self.waiting:
                self.waiting.add(trial.trial_id)
                logger.warning("trial %s no longer fits the live nodes (%d left): %s. %s", trial.trial_id,
                               len(nodes), missing, self._what_next(cfg))
            elif not missing and trial.trial_id in self.waiting:
                self.waiting.discard(trial.trial_id)
                logger.warning("trial %s fits the live nodes again (%d)", trial.trial_id, len(nodes))

    def _what_next(self, cfg) -> str:
        if cluster.runs_in_trial_process(cfg):
            return ("Tune keeps it pending until a node can hold it (an autoscaler may add one); "
                    f"`dualtune stop {self.campaign}` ends the campaign resumably")
        return (f"It waits up to {self.capacity_wait_s:.0f} s for capacity (an autoscaler may add nodes), then ends "
                f"as {TrialStatus.NO_CAPACITY}; continue it later with: "
                f"{resume_command(self.campaign, self.runs_dir, retry_errored=True)}")
