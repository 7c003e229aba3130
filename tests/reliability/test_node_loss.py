"""Losing a node mid-campaign, on a real two-node Ray cluster (a head and a worker node, each
its own `ray start` process group with 2 CPUs; the worker node is killed with SIGKILL, as a
machine that goes away):

- a trial on the lost node resumes from its last checkpoint on the surviving node and
  finishes; one MLflow run per trial, Optuna's record complete;
- a trial the survivors cannot hold is announced in one line, waits --capacity-wait, ends as
  no_capacity (its run KILLED, with the command that continues it), the campaign goes on and
  ends; once a node is back, --resume --retry-errored finishes it.

Ray's own messages about the lost node stay in the campaign's driver.log.  The driver joins
the cluster with --address, shipping this checkout to the nodes."""
import json
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.ray_nodes import kill_node, nodes_running, ray_head, worker_node
from tests.spaces import write_tiny_space
from tuning.campaign.records.tracking import Tags
from tuning.exit_codes import ExitCode

pytestmark = pytest.mark.slow
RAY_INTERNALS = ("(raylet)", "Traceback", "ActorDiedError", "ActorUnavailableError", "marked dead")


def _space(path, name, resources, epochs, trials):
    return write_tiny_space(path, name, num_samples=trials, max_concurrent_trials=2, seed=1,
                            overrides={"schedule.epochs": epochs,
                                       **{f"resources.{k}": v for k, v in resources.items()}})


def _trials_reported(db) -> int:
    """How many trials have logged an epoch (and so saved a checkpoint)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            query = "select count(distinct run_uuid) from metrics where key = 'online_select_top1'"
            return con.execute(query).fetchone()[0]
    except sqlite3.Error:
        return 0


def _tune(head, runs, *args):
    return [sys.executable, "-m", "tuning.cli", "tune", "--address", head.address, "--runs-dir", str(runs), *args]


def _kill_when(node, driver, ready, wait_s=300, polls=2):
    """Kill ``node`` once ``ready()`` has held on ``polls`` polls in a row, a second apart: a trial
    logs its epoch to MLflow just before Tune's driver records it, and a node lost in between
    takes that record with it."""
    deadline, held = time.time() + wait_s, 0
    while time.time() < deadline and driver.poll() is None:
        held = held + 1 if ready() else 0
        if held == polls:
            kill_node(node)
            return
        time.sleep(1)
    pytest.fail("the campaign never reached the moment to lose the node")


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    with ray_head(tmp_path_factory.mktemp("head"), num_cpus=2, dashboard=True) as started:
        yield started


def test_a_trial_on_a_lost_node_resumes_from_its_checkpoint_on_the_survivor(head, tmp_path):
    # 8 epochs: the moment to lose the node (both trials past a checkpoint, neither finished) lasts
    # about 7 epochs, which a loaded machine still meets
    space = _space(tmp_path / "loss.yaml", "loss", {"workers": 1, "cpus_per_worker": 1.5}, epochs=8, trials=2)
    runs = tmp_path / "runs"
    with worker_node(head, 2, tmp_path / "worker.log") as node:
        driver = subprocess.Popen(_tune(head, runs, "--space", space, "--name", "loss"), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        # one trial a node (1.5 of each node's 2 CPUs), both past a checkpoint: then the worker node goes
        _kill_when(node, driver, lambda: len(nodes_running(head, "ImplicitFunc")) == 2
                   and _trials_reported(runs / "mlflow.db") == 2)
        output = driver.communicate(timeout=600)[0]
    assert driver.returncode == 0, output[-4000:]
    assert not [word for word in RAY_INTERNALS if word in output], output[-4000:]

    trials = sorted((runs / "ray" / "loss").glob("run_trial_*"))
    epochs, pids = {}, {}
    for trial in trials:
        results = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        epochs[trial.name], pids[trial.name] = [r["epoch"] for r in results], {r["pid"] for r in results}
    assert all(e == list(range(1, 9)) for e in epochs.values()), epochs  # each epoch once: no restart, none lost
    assert sorted(len(p) for p in pids.values()) == [1, 2], pids  # the lost one went on in a new process

    client = MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("loss").experiment_id
    trial_runs = client.search_runs([experiment], f"tags.`{Tags.TRIAL_ID}` != ''")
    assert len(trial_runs) == 2 and {r.data.tags[Tags.TRIAL_STATUS] for r in trial_runs} == {"completed"}
    study = optuna.load_study(study_name="loss", storage=f"sqlite:///{runs / 'optuna.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert "marked dead" in (runs / "loss" / "driver.log").read_text()  # Ray's words, kept for who wants them
    shipped = list(head.temp_dir.glob("session_*/runtime_resources/working_dir_files/*/tuning/campaign/search/"
                                      "trial.py"))
    assert shipped and not (shipped[0].parents[3] / ".venv").exists()  # this checkout, without its environment


def test_a_trial_the_survivors_cannot_hold_waits_then_ends_resumable_and_resumes_later(head, tmp_path):
    # 6 epochs: the node must go while the two workers still train together.  At 2 epochs the
    # second one could end (and rank 0's final probes need no peer) before the kill landed
    space = _space(tmp_path / "spread.yaml", "spread",
                   {"workers": 2, "cpus_per_worker": 1.0, "placement_strategy": "STRICT_SPREAD"}, epochs=6,
                   trials=1)
    runs = tmp_path / "runs"
    with worker_node(head, 2, tmp_path / "worker.log") as node:
        driver = subprocess.Popen(_tune(head, runs, "--space", space, "--name", "spread", "--capacity-wait", "10s"),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _kill_when(node, driver, lambda: _trials_reported(runs / "mlflow.db") >= 1)
        output = driver.communicate(timeout=600)[0]
    assert driver.returncode == ExitCode.STOPPED, output[-4000:]  # no_capacity: resumable, not done
    assert not [word for word in RAY_INTERNALS if word in output], output[-4000:]
    notices = [line for line in output.splitlines() if "no longer fits the live nodes" in line]
    assert notices and "STRICT_SPREAD" in notices[0] and "waits up to 10 s" in notices[0], output[-4000:]
    assert "--resume spread --retry-errored" in notices[0]

    client = MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("spread").experiment_id
    trial_runs = client.search_runs([experiment], f"tags.`{Tags.TRIAL_ID}` != ''")
    assert {r.data.tags[Tags.TRIAL_STATUS] for r in trial_runs} == {"no_capacity"}
    assert {r.info.status for r in trial_runs} == {"KILLED"}
    assert {r.data.tags[Tags.RESUME] for r in trial_runs} == {
        f"dualtune tune --resume spread --retry-errored --runs-dir {runs.resolve()}"}

    with worker_node(head, 2, tmp_path / "worker-again.log"):  # capacity is back
        resumed = subprocess.run(_tune(head, runs, "--resume", "spread", "--retry-errored"), capture_output=True,
                                 text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-4000:] + resumed.stderr[-2000:]
    finished = client.search_runs([experiment], f"tags.`{Tags.TRIAL_ID}` != ''")
    assert len(finished) == 1 and {r.data.tags[Tags.TRIAL_STATUS] for r in finished} == {"completed"}
    assert all(Tags.RESUME not in r.data.tags for r in finished)
