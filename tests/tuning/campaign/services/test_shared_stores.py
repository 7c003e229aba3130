"""A team's campaigns on shared stores: a throwaway PostgreSQL cluster behind a real
``mlflow server`` (artifacts proxied to a folder) and behind the Optuna studies, and a Ray
head node with its Jobs API.  The README's `ray job submit` line runs as written while a
second person starts a campaign of the same space from their own runs folder; both land in
the same stores without clashing, and are read back by ``status`` and ``export`` from
anywhere that names the server."""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.postgres import mlflow_server, postgres_cluster
from tests.ray_nodes import ray_head, wait_for_jobs_api
from tests.spaces import tiny_space
from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.tracking import Tags
from tuning.config import load_config

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[4]
SPACE = tiny_space("team", overrides={"schedule.epochs": 2}, max_concurrent_trials=1, seed=3)


def readme_job_line() -> list[str]:
    """The README's `ray job submit` command, as argv."""
    block = re.search(r"```\n(ray job submit .*?)\n```", (REPO / "README.md").read_text(), re.S)
    assert block, "the README has no `ray job submit` block"
    return shlex.split(block.group(1).replace("\\\n", " "))


def _cli(*args):
    return [sys.executable, "-m", "tuning.cli", *map(str, args)]


def test_the_readmes_job_and_a_second_campaign_share_a_postgres_backed_server_and_study_storage(tmp_path,
                                                                                                monkeypatch):
    space = tmp_path / "team.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    shared, artifacts = tmp_path / "shared", tmp_path / "artifacts"
    with postgres_cluster() as postgres, mlflow_server(postgres, artifacts) as server:
        node_env = {"PGPASSWORD": postgres.password,  # the head node's secret, not the job's command line
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        stores = ["--tracking-uri", server, "--optuna-storage", postgres.url("optuna")]
        with ray_head(tmp_path, num_cpus=4, dashboard=True, env=node_env) as head:
            wait_for_jobs_api(head)
            placeholders = {"http://HEAD:8265": head.dashboard, "simclr_careful": str(space),
                            "s3://bucket/dualtune": str(tmp_path / "ray"), "/shared/dualtune": str(shared),
                            "http://MLFLOW:5000": server, "postgresql://dualtune@DB/optuna": postgres.url("optuna")}
            line = readme_job_line()
            assert set(placeholders) <= set(line), f"the README's job line changed: {line}"
            job_line = [placeholders.get(word, word) for word in line]
            job_line[0] = str(Path(sys.executable).with_name("ray"))
            job = subprocess.Popen(job_line, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "RAY_AUTH_MODE": "token"})  # as the README says
            ben = subprocess.Popen(_cli("tune", "--space", space, "--name", "ben", "--runs-dir", tmp_path / "ben",
                                        "--address", head.address, *stores),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=postgres.env())
            outputs = {"job": job.communicate(timeout=900)[0], "ben": ben.communicate(timeout=900)[0]}
        assert job.returncode == 0 and "succeeded" in outputs["job"].lower(), outputs["job"][-4000:]
        assert ben.returncode == 0, outputs["ben"][-4000:]
        for output in outputs.values():
            assert f"MLflow tracking URI: {server}" in output and f"Browse it: {server}/#/experiments/" in output
        assert "View run" not in outputs["ben"]  # MLflow's own link lines stay off the terminal

        [ana] = RunsFolder(shared).campaigns()  # the job's campaign: its state in --runs-dir, which outlives the job
        assert ana.startswith("team-") and (tmp_path / "ray" / ana).is_dir()
        client = MlflowClient(server)
        experiment = client.get_experiment_by_name("team")
        assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's store, not a local path
        runs = client.search_runs([experiment.experiment_id])
        trials = [r for r in runs if Tags.TRIAL_ID in r.data.tags]
        parents = [r for r in runs if Tags.TRIAL_ID not in r.data.tags]
        assert sorted(r.data.tags[Tags.CAMPAIGN] for r in parents) == sorted([ana, "ben"])
        assert sorted(r.data.tags[Tags.CAMPAIGN] for r in trials) == sorted([ana, "ben"])
        assert len({r.data.tags[Tags.RUN_NAME] for r in runs}) == 4  # no two runs share a name
        for run in trials:
            assert run.info.status == "FINISHED" and run.data.tags[Tags.TRIAL_STATUS] == "completed"
            parent = next(p for p in parents if p.info.run_id == run.data.tags[Tags.PARENT_RUN])
            assert parent.data.tags[Tags.CAMPAIGN] == run.data.tags[Tags.CAMPAIGN]
            config = artifacts / experiment.experiment_id / run.info.run_id / "artifacts" / "config.yaml"
            assert yaml.safe_load(config.read_text())["loss"]["method"] == "simclr"  # proxied to the server's folder

        monkeypatch.setenv("PGPASSWORD", postgres.password)
        storage = optuna.storages.RDBStorage(postgres.url("optuna"))
        assert sorted(optuna.get_all_study_names(storage)) == sorted([ana, "ben"])
        for name in (ana, "ben"):
            study = optuna.load_study(study_name=name, storage=storage)
            assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]

        best = (shared / ana / "best_config.yaml").read_text()
        assert f"# tracking_uri: {server}" in best and f"# optuna_storage: {postgres.url('optuna')}" in best
        state = (shared / ana / "campaign.json").read_text()
        assert postgres.url("optuna") in state and postgres.password not in state

        # read back from a fresh folder that only names the server (here through the environment)
        elsewhere = tmp_path / "elsewhere"
        status = subprocess.run(_cli("status", ana, "--format", "json", "--runs-dir", elsewhere),
                                capture_output=True, text=True, env={**postgres.env(), "MLFLOW_TRACKING_URI": server})
        assert status.returncode == 0, status.stdout + status.stderr
        assert [t["status"] for t in json.loads(status.stdout)["trials"]] == ["completed"]
        recorded = subprocess.run(_cli("status", "ben", "--runs-dir", tmp_path / "ben"), capture_output=True,
                                  text=True, env=postgres.env())  # no flag: the campaign recorded its stores
        assert recorded.returncode == 0 and "campaign ben: 1 trials" in recorded.stdout, recorded.stdout
        exported = subprocess.run(_cli("export", "ben", "-o", tmp_path / "exported", "--tracking-uri", server,
                                       "--runs-dir", elsewhere), capture_output=True, text=True, env=postgres.env())
        assert exported.returncode == 0, exported.stdout + exported.stderr
        [top] = (tmp_path / "exported").glob("ben-top1-*.yaml")
        assert f"# tracking_uri: {server}" in top.read_text() and load_config(top).loss.method == "simclr"

        taken = subprocess.run(_cli("tune", "--space", space, "--name", "ben", "--runs-dir", tmp_path / "carl",
                                    *stores), capture_output=True, text=True, env=postgres.env(), timeout=300)
        assert taken.returncode == 2 and "campaign name 'ben' is already taken" in taken.stdout, taken.stdout
