"""A trial that cannot be placed fails before launch with a clear message."""
import pytest

from tuning.cluster import check_fits, trial_demand
from tuning.config import validate_config


def test_trial_demand_counts_workers_and_the_tune_function():
    cfg = validate_config({"resources": {"workers": 4, "cpus_per_worker": 2, "gpus_per_worker": 1},
                           "data": {"batch_size": 256}})
    assert trial_demand(cfg) == {"CPU": 8.01, "GPU": 4}


def test_gpus_on_a_cpu_cluster_are_refused(ray_cluster):
    cfg = validate_config({"resources": {"workers": 2, "gpus_per_worker": 1}})
    with pytest.raises(RuntimeError, match="one trial needs 2 GPU .* but the cluster has 0"):
        check_fits(cfg)


def test_one_worker_trials_hold_their_worker_in_the_trial_process():
    cfg = validate_config({"resources": {"workers": 1, "cpus_per_worker": 3, "gpus_per_worker": 1}})
    assert trial_demand(cfg) == {"CPU": 3, "GPU": 1}
