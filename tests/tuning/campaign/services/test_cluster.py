"""Trial resources, the check that a trial fits before launch, and joining a running cluster."""
import os
from pathlib import Path

import pytest

from tuning.campaign.services.cluster import check_fits, code_runtime_env, trial_demand, trial_function_resources
from tuning.config import validate_config


def test_trial_demand_counts_workers_and_the_tune_function():
    cfg = validate_config({"resources": {"workers": 4, "cpus_per_worker": 2, "gpus_per_worker": 1},
                           "data": {"batch_size": 256}})
    assert trial_demand(cfg) == {"CPU": 8, "GPU": 4}  # the coordinator takes no CPU, on the head node
    assert trial_function_resources(cfg) == {"cpu": 0.0, "node:__internal_head__": 0.001}
    alone = validate_config({"resources": {"workers": 1, "cpus_per_worker": 2}})
    assert trial_function_resources(alone) == {"cpu": 2, "gpu": 0} and trial_demand(alone) == {"CPU": 2, "GPU": 0}


def test_gpus_on_a_cpu_cluster_are_refused(ray_cluster):
    cfg = validate_config({"resources": {"workers": 2, "gpus_per_worker": 1}})
    with pytest.raises(RuntimeError, match="one trial needs 2 GPU .* but the cluster has 0"):
        check_fits(cfg)


TWO_NODES = [{"CPU": 2.0}, {"CPU": 2.0}]


def _cfg(workers, cpus, strategy="PACK"):
    return validate_config({"resources": {"workers": workers, "cpus_per_worker": cpus,
                                          "placement_strategy": strategy}, "data": {"batch_size": 240}})


def test_a_trial_that_fits_the_nodes_passes():
    check_fits(_cfg(2, 1.5), TWO_NODES)  # one worker on each node
    check_fits(_cfg(2, 1.0, "STRICT_SPREAD"), TWO_NODES)
    check_fits(_cfg(1, 2.0, "STRICT_PACK"), TWO_NODES)


@pytest.mark.parametrize("cfg,message", [
    (_cfg(1, 3.0), "one worker needs 3 CPU and 0 GPU on one node, but the largest node has 2 CPU"),
    (_cfg(2, 1.5, "STRICT_PACK"), "STRICT_PACK puts the whole trial .3 CPU, 0 GPU. on one node"),
    (_cfg(3, 1.0, "STRICT_SPREAD"), "STRICT_SPREAD puts each of the 3 workers on its own node, and only 2"),
    (_cfg(3, 1.5), "one trial needs 4.5 CPU .* but the cluster has 4"),
])
def test_a_trial_no_node_can_hold_is_refused_though_the_sum_may_suffice(cfg, message):
    with pytest.raises(RuntimeError, match=message):
        check_fits(cfg, TWO_NODES)


def test_the_placement_strategy_reaches_the_train_worker_group(tmp_path):
    from tuning.campaign.search.trial import build_trainer
    from tuning.run.data import PreparedData
    from tuning.run.loop import RunRequest

    cfg = _cfg(2, 1.0, "SPREAD")
    request = RunRequest(cfg, PreparedData(
        train="t.beton", test="v.beton", num_classes=10, select_per_class=20, select_seed=0), requested_at=0.0)
    assert build_trainer(cfg, request, "spread", str(tmp_path)).scaling_config.placement_strategy == "SPREAD"


def test_one_worker_trials_hold_their_worker_in_the_trial_process():
    cfg = validate_config({"resources": {"workers": 1, "cpus_per_worker": 3, "gpus_per_worker": 1}})
    assert trial_demand(cfg) == {"CPU": 3, "GPU": 1}


def test_a_submitted_job_ships_the_code_itself(monkeypatch):
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", '{"runtime_env": {"working_dir": "gcs://_ray_pkg_x.zip"}}')
    assert code_runtime_env() == {}  # no second working_dir for Ray to refuse to merge


def test_a_runs_folder_in_a_jobs_temporary_working_dir_is_refused(tmp_path):
    from tuning.campaign.services.cluster import check_outlives_job

    job_dir = tmp_path / "session_x" / "runtime_resources" / "working_dir_files" / "_ray_pkg_abc" / "runs"
    with pytest.raises(RuntimeError, match="deletes with the job .* e.g. --runs-dir /shared/dualtune"):
        check_outlives_job(job_dir, "--runs-dir")
    with pytest.raises(RuntimeError, match="--optuna-storage .*_ray_pkg_abc"):
        check_outlives_job(job_dir / "optuna.log", "--optuna-storage")
    check_outlives_job(tmp_path / "runs", "--runs-dir")  # elsewhere: accepted


def test_the_code_ships_from_this_checkout_without_the_environment():
    env = code_runtime_env()
    assert Path(env["working_dir"], "tuning", "campaign", "search", "trial.py").is_file()
    assert {".venv/", "runs/", "*.beton"} <= set(env["excludes"])


LOOKUP_FROM_A_TASK = """
import json, os, ray
from ray._private.services import canonicalize_bootstrap_address_or_die
from tuning.campaign.services import cluster

cluster.connect(None, num_cpus=1)

@ray.remote(num_cpus=0)
def lookup():  # what Ray Train's placement-group cleaner does in its actor
    return canonicalize_bootstrap_address_or_die(None)

print(json.dumps({"own": ray.get_runtime_context().gcs_address, "found": ray.get(lookup.remote()),
                  "driver_env": os.environ.get("RAY_ADDRESS")}))
"""


@pytest.mark.service
def test_a_private_cluster_finds_itself_beside_another_ray_on_the_machine(tmp_path):
    import json
    import subprocess
    import sys

    from tests.ray_nodes import ray_head

    with ray_head(tmp_path, num_cpus=1) as other:  # another campaign's cluster, say
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        done = subprocess.run([sys.executable, "-c", LOOKUP_FROM_A_TASK], capture_output=True, text=True,
                              timeout=300, cwd=Path(__file__).parents[4], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["found"] == seen["own"] != other.address  # without the pinned address: "multiple active Ray instances"
    assert seen["driver_env"] is None  # the driver's own environment is left as it was
