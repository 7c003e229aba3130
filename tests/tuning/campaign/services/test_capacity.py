"""Trials the live nodes can no longer hold: a run watched for the capacity wait (on the
real local cluster), their resumable status, the driver's one-line notice, and the start
check that only warns where an autoscaler may help."""
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tuning.campaign.records.results import TrialRecord, trial_status
from tuning.campaign.services import cluster
from tuning.campaign.services.capacity import (
    NO_CAPACITY_MARK,
    CapacityWatch,
    NoCapacityError,
    fit_while_it_fits,
    is_no_capacity,
)
from tuning.campaign.statuses import TrialStatus
from tuning.config import validate_config
from tuning.errors import ClusterError


class _Run:
    """Stands in for a Train run (a real one is in the multi-node test): ``fit`` takes
    ``seconds`` and then returns or raises."""

    def __init__(self, seconds: float, error: Exception | None = None):
        self.seconds, self.error = seconds, error

    def fit(self):
        time.sleep(self.seconds)
        if self.error:
            raise self.error
        return "result"


def test_a_run_ends_as_no_capacity_only_when_the_live_nodes_cannot_hold_it_for_the_wait(ray_cluster):
    """The local cluster is one node with 5 CPUs: a STRICT_SPREAD trial over 2 nodes cannot run on it."""
    spread = _cfg({"workers": 2, "cpus_per_worker": 1.0, "placement_strategy": "STRICT_SPREAD"})
    fitting = _cfg({"workers": 2, "cpus_per_worker": 1.0})
    started = time.monotonic()
    with pytest.raises(NoCapacityError, match="could not hold its 2 workers for 1 s"):
        fit_while_it_fits(_Run(60), spread, capacity_wait_s=1, every_s=0.2)
    assert time.monotonic() - started < 30  # the wait, not the run's 60 s
    assert fit_while_it_fits(_Run(1), fitting, capacity_wait_s=0.1, every_s=0.2) == "result"
    with pytest.raises(ValueError, match="loss is nan"):
        fit_while_it_fits(_Run(0.5, ValueError("loss is nan")), fitting, capacity_wait_s=60, every_s=0.1)


def test_a_trial_ended_by_the_wait_is_no_capacity_and_any_other_error_failed():
    ended = f"NoCapacityError: {NO_CAPACITY_MARK}: the live nodes could not hold its 2 workers for 20 s"
    assert is_no_capacity(ended) and not is_no_capacity("ValueError: bad") and not is_no_capacity(None)
    assert trial_status({"epoch": 3}, True, ended) == TrialStatus.NO_CAPACITY
    assert trial_status({"epoch": 3}, True, "ValueError: bad") == "failed"
    record = TrialRecord(trial_id="t", config={}, results=[{"epoch": 1}], error=ended, path="/p", ended=True)
    assert record.status == TrialStatus.NO_CAPACITY


@dataclass
class _Trial:  # what CapacityWatch reads of a Tune trial
    trial_id: str
    status: str
    config: dict


def _cfg(sampled):
    return validate_config({"resources": sampled, "data": {"batch_size": 64}})


def test_the_driver_says_in_one_line_when_the_live_nodes_cannot_hold_a_trial(ray_cluster, caplog):
    """The local cluster is one node with 5 CPUs: a STRICT_SPREAD trial over 2 nodes does not fit it."""
    watch = CapacityWatch(_cfg, "camp", Path("/srv/runs"), capacity_wait_s=120, every_s=0)
    spread = _Trial("t1", "RUNNING", {"workers": 2, "cpus_per_worker": 1.0, "placement_strategy": "STRICT_SPREAD"})
    small = _Trial("t2", "RUNNING", {"workers": 2, "cpus_per_worker": 1.0})
    with caplog.at_level(logging.WARNING, logger="dualtune"):
        watch.on_step_begin(0, [spread, small])
        watch.on_step_begin(1, [spread, small])  # said once, not on every step
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith("trial t1 no longer fits the live nodes (1 left): placement_strategy STRICT_SPREAD")
    assert "waits up to 120 s" in lines[0]
    assert "dualtune tune --resume camp --retry-errored --runs-dir /srv/runs" in lines[0]
    caplog.clear()
    spread.config["placement_strategy"] = "SPREAD"  # now it fits again
    with caplog.at_level(logging.WARNING, logger="dualtune"):
        watch.on_step_begin(2, [spread, small])
    assert [r.getMessage() for r in caplog.records] == ["trial t1 fits the live nodes again (1)"]


def test_a_trial_no_node_holds_is_refused_unless_an_autoscaler_may_add_one(ray_cluster, monkeypatch, caplog):
    """No autoscaler can run here (it needs a cloud or a Kubernetes provider), so its presence
    is stood in for; the check against the live nodes is the real one."""
    too_big = _cfg({"workers": 1, "cpus_per_worker": 64.0})
    with pytest.raises(ClusterError, match="one trial needs 64 CPU"):
        cluster.check_fits_or_warn(too_big)
    monkeypatch.setattr(cluster, "has_autoscaler", lambda: True)
    with caplog.at_level(logging.WARNING, logger="dualtune"):
        cluster.check_fits_or_warn(too_big)
    assert "one trial needs 64 CPU" in caplog.text and "The cluster has an autoscaler" in caplog.text
    monkeypatch.undo()
    assert cluster.has_autoscaler() is False  # the local cluster has none
