"""Campaigns of a team: a real PostgreSQL cluster behind a real ``mlflow server`` (artifacts
proxied to a folder) and behind the Optuna studies, two campaigns started at the same time
by two people (their own runs folders) against the same stores, and the records read back
by ``status`` and ``export`` from anywhere that names the server."""
import json
import subprocess
import sys

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.postgres import mlflow_server, postgres_cluster
from tuning.campaign.tracking import Tags
from tuning.config import load_config

pytestmark = pytest.mark.slow
SPACE = {"name": "team", "base": "digits-simclr", "num_samples": 2, "max_concurrent_trials": 1, "seed": 3,
         "scheduler": {"type": "fifo"},
         "overrides": {"schedule.epochs": 2, "data.batch_size": 128, "probe.offline_epochs": 2, "probe.knn": False,
                       "resources.workers": 1},
         "params": {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5}}}


def _cli(*args):
    return [sys.executable, "-m", "tuning.cli", *map(str, args)]


def test_two_campaigns_share_a_postgres_backed_tracking_server_and_study_storage(tmp_path, monkeypatch):
    space = tmp_path / "team.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    artifacts = tmp_path / "artifacts"
    with postgres_cluster() as postgres, mlflow_server(postgres, artifacts) as server:
        stores = ["--tracking-uri", server, "--optuna-storage", postgres.url("optuna")]
        drivers = {name: subprocess.Popen(
            _cli("tune", "--space", space, "--name", name, "--runs-dir", tmp_path / name, "--num-cpus", 2, *stores),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=postgres.env())
            for name in ("ana", "ben")}
        outputs = {name: driver.communicate(timeout=900)[0] for name, driver in drivers.items()}
        for name, driver in drivers.items():
            assert driver.returncode == 0, outputs[name][-3000:]
            assert f"MLflow tracking URI: {server}" in outputs[name]

        client = MlflowClient(server)
        experiment = client.get_experiment_by_name("team")
        assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's store, not a local path
        runs = client.search_runs([experiment.experiment_id])
        trials = [r for r in runs if Tags.TRIAL_ID in r.data.tags]
        parents = [r for r in runs if Tags.TRIAL_ID not in r.data.tags]
        assert sorted(r.data.tags[Tags.CAMPAIGN] for r in parents) == ["ana", "ben"]
        assert sorted(r.data.tags[Tags.CAMPAIGN] for r in trials) == ["ana", "ana", "ben", "ben"]
        assert len({r.data.tags[Tags.RUN_NAME] for r in runs}) == 6  # no two runs share a name
        for run in trials:
            assert run.info.status == "FINISHED" and run.data.tags[Tags.STATUS] == "completed"
            parent = next(p for p in parents if p.info.run_id == run.data.tags[Tags.PARENT_RUN])
            assert parent.data.tags[Tags.CAMPAIGN] == run.data.tags[Tags.CAMPAIGN]
            config = artifacts / experiment.experiment_id / run.info.run_id / "artifacts" / "config.yaml"
            assert yaml.safe_load(config.read_text())["loss"]["method"] == "simclr"  # proxied to the server's folder

        monkeypatch.setenv("PGPASSWORD", postgres.password)
        storage = optuna.storages.RDBStorage(postgres.url("optuna"))
        assert sorted(optuna.get_all_study_names(storage)) == ["ana", "ben"]
        for name in ("ana", "ben"):
            study = optuna.load_study(study_name=name, storage=storage)
            assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2

        # read back from a fresh folder that only names the server (here through the environment)
        elsewhere = tmp_path / "elsewhere"
        status = subprocess.run(_cli("status", "ana", "--format", "json", "--runs-dir", elsewhere),
                                capture_output=True, text=True, env={**postgres.env(), "MLFLOW_TRACKING_URI": server})
        assert status.returncode == 0, status.stdout + status.stderr
        assert sorted(t["status"] for t in json.loads(status.stdout)) == ["completed", "completed"]
        recorded = subprocess.run(_cli("status", "ben", "--runs-dir", tmp_path / "ben"), capture_output=True,
                                  text=True, env=postgres.env())  # no flag: the campaign recorded its stores
        assert recorded.returncode == 0 and "campaign ben: 2 trials" in recorded.stdout, recorded.stdout
        exported = subprocess.run(_cli("export", "ana", "-o", tmp_path / "exported", "--tracking-uri", server,
                                       "--runs-dir", elsewhere), capture_output=True, text=True, env=postgres.env())
        assert exported.returncode == 0, exported.stdout + exported.stderr
        [best] = (tmp_path / "exported").glob("ana-top1-*.yaml")
        assert f"# tracking_uri: {server}" in best.read_text()
        assert load_config(best).loss.method == "simclr"
        campaign_best = (tmp_path / "ana" / "ana" / "best_config.yaml").read_text()
        assert f"# tracking_uri: {server}" in campaign_best
        assert f"# optuna_storage: {postgres.url('optuna')}" in campaign_best

        taken = subprocess.run(_cli("tune", "--space", space, "--name", "ana", "--runs-dir", tmp_path / "carl",
                                    *stores), capture_output=True, text=True, env=postgres.env(), timeout=300)
        assert taken.returncode == 2 and "campaign name 'ana' is already taken" in taken.stdout, taken.stdout
