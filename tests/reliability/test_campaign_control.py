"""Steering a running campaign: ``dualtune stop`` while trials run leaves it resumable (its
runs KILLED with status 'stopped', not failed); ``--resume`` finishes it with one MLflow
run per trial; ``--extend`` adds trials to the same Optuna study under the same parent run.
The base config is the user's own YAML, edited between stop and resume and again before
extend: every trial trains the values the campaign started with, and each edit is warned
about once.  Real driver processes, a real local Ray, real MLflow and Optuna stores."""
import json
import shlex
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search_spaces import find_preset
from tuning.campaign.records.tracking import Tags
from tuning.exit_codes import ExitCode
from tuning.run.checkpoints import CONFIG_FILE, load_checkpoint_config

pytestmark = pytest.mark.slow
NAME = "ctl"


def _cli(runs, *args):
    return [sys.executable, "-m", "tuning.cli", *args, "--runs-dir", str(runs)]


def _reported_epochs(db) -> int:
    """Epochs logged by the campaign's trial runs, read-only (the driver may be creating the store)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("select count(*) from metrics where key = 'online_select_top1'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _as_printed(printed: str, line_start: str) -> list[str]:
    """The command a line of output prints after ``line_start``, to run as printed (``dualtune``
    is this interpreter's module here: the venv's bin may not be on the test's PATH)."""
    line = next(line for line in printed.splitlines() if line_start in line)
    command = shlex.split(line.split(line_start, 1)[1].strip())
    assert command[0] == "dualtune", line
    return [sys.executable, "-m", "tuning.cli", *command[1:]]


def _status(runs) -> list[dict]:
    out = subprocess.run(_cli(runs, "status", NAME, "--format", "json"), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["trials"]


def _edit_weight_decay(base, value: float) -> None:
    config = yaml.safe_load(base.read_text())
    config["optim"]["weight_decay"] = value
    base.write_text(yaml.safe_dump(config))


def _trained_weight_decays(runs) -> set[float]:
    """What the trial processes trained with, read from every checkpoint's config."""
    checkpoints = [found.parent for found in (runs / "ray").rglob(CONFIG_FILE)]
    assert checkpoints
    return {load_checkpoint_config(folder).optim.weight_decay for folder in checkpoints}


def test_stop_resume_and_extend_one_campaign(ray_cluster, tmp_path):
    base = tmp_path / "my_base.yaml"
    base.write_text(find_preset("digits-simclr").read_text())
    kept = yaml.safe_load(base.read_text())["optim"]["weight_decay"]
    space = tmp_path / "ctl.yaml"
    space.write_text(yaml.safe_dump({
        "name": NAME, "base": str(base), "num_samples": 2, "max_concurrent_trials": 2, "seed": 5,
        "scheduler": {"type": "fifo"},
        "overrides": {"schedule.epochs": 3, "data.batch_size": 128, "probe.offline_epochs": 2, "probe.knn": False,
                      "resources.workers": 1},
        "params": {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5}},
    }))
    runs = tmp_path / "runs"
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(_cli(runs, "tune", "--space", str(space), "--name", NAME), stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and _reported_epochs(runs / "mlflow.db") < 1 and driver.poll() is None:
        time.sleep(1)
    stop = subprocess.run(_cli(runs, "stop", NAME), capture_output=True, text=True)
    assert stop.returncode == 0 and f"--resume {NAME}" in stop.stdout, stop.stdout + stop.stderr
    assert driver.wait(timeout=300) == ExitCode.STOPPED
    output = (tmp_path / "driver.log").read_text()
    assert "stopped with" in output and f"dualtune tune --resume {NAME}" in output, output[-3000:]

    stopped = _status(runs)
    assert {t["status"] for t in stopped} <= {"stopped", "completed"} and "stopped" in {t["status"] for t in stopped}
    client = MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(NAME).experiment_id
    parent = [r for r in client.search_runs([experiment]) if Tags.TRIAL_ID not in r.data.tags]
    assert [p.info.status for p in parent] == ["KILLED"]
    assert parent[0].data.tags[Tags.RESUME] == f"dualtune tune --resume {NAME} --runs-dir {runs.resolve()}"
    for run in client.search_runs([experiment], f"tags.`{Tags.TRIAL_STATUS}` = 'stopped'"):
        assert run.info.status == "KILLED"  # killed but resumable: not FAILED
    again = subprocess.run(_cli(runs, "stop", NAME), capture_output=True, text=True)
    assert again.returncode == 2 and "has no running driver" in again.stdout

    _edit_weight_decay(base, 0.25)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = subprocess.run(_as_printed(stop.stdout, "Continue with:"), capture_output=True, text=True, timeout=600,
                             cwd=elsewhere)  # as printed, from another folder
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    said = resumed.stdout + resumed.stderr
    assert said.count("has changed since it started") == 1 and "optim.weight_decay (kept 1e-06, file now 0.25)" in said
    finished = _status(runs)
    assert _trained_weight_decays(runs) == {kept}
    assert len(finished) == 2 and {t["status"] for t in finished} == {"completed"}
    assert {t["trial_id"] for t in stopped} <= {t["trial_id"] for t in finished}  # the stopped ones continued
    trial_runs = client.search_runs([experiment], f"tags.`{Tags.TRIAL_ID}` != ''")
    assert len(trial_runs) == 2 and all(r.info.status == "FINISHED" for r in trial_runs)  # one run per trial
    for run in trial_runs:  # stopped mid-epoch and resumed: every epoch once, in Tune's records and in MLflow
        logged = [m.step for m in client.get_metric_history(run.info.run_id, "epoch_time_s")]
        assert sorted(logged) == [1, 2, 3], logged
    for result_json in (runs / "ray").rglob("run_trial_*/result.json"):
        epochs = [json.loads(line)["epoch"] for line in result_json.read_text().splitlines()]
        assert epochs == [1, 2, 3], (result_json, epochs)
    assert all(Tags.RESUME not in r.data.tags for r in trial_runs)

    _edit_weight_decay(base, 0.5)
    extended = subprocess.run(_cli(runs, "tune", "--extend", NAME, "--num-samples", "1"), capture_output=True,
                              text=True, timeout=600)
    assert extended.returncode == 0, extended.stdout[-3000:]
    assert "optim.weight_decay (kept 1e-06, file now 0.5)" in extended.stdout + extended.stderr
    grown = _status(runs)
    assert len(grown) == 3 and {t["status"] for t in grown} == {"completed"}
    assert _trained_weight_decays(runs) == {kept}
    logged = [float(r.data.params["optim.weight_decay"]) for r in client.search_runs([experiment],
                                                                                   f"tags.`{Tags.TRIAL_ID}` != ''")]
    assert logged == [kept] * 3
    logged_base = client.download_artifacts(parent[0].info.run_id, "base_config.yaml", str(tmp_path))
    assert yaml.safe_load(open(logged_base).read())["optim"]["weight_decay"] == kept
    parents = [r for r in client.search_runs([experiment]) if Tags.TRIAL_ID not in r.data.tags]
    assert [p.info.run_id for p in parents] == [parent[0].info.run_id] and parents[0].info.status == "FINISHED"
    study = optuna.load_study(study_name=NAME, storage=f"sqlite:///{runs / 'optuna.db'}")
    temperatures = [t.params["loss.params.temperature"] for t in study.trials]
    assert len(study.trials) == 3 and len(set(temperatures)) == 3  # the same study, no sample replayed
    finished_resume = subprocess.run(_cli(runs, "tune", "--resume", NAME), capture_output=True, text=True,
                                     timeout=120)
    assert finished_resume.returncode == 2 and "has finished" in finished_resume.stdout
    again_extended = subprocess.run(_as_printed(finished_resume.stdout, "add trials to it with:"),
                                    capture_output=True, text=True, timeout=600, cwd=elsewhere)
    assert again_extended.returncode == 0, again_extended.stdout[-3000:]
    assert len(_status(runs)) == 3 + 4  # the printed --extend adds 4 trials
    (tmp_path / "status_after_each.json").write_text(json.dumps({"stopped": stopped, "resumed": finished,
                                                                 "extended": grown}, indent=1))
