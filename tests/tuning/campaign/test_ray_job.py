"""The README's `ray job submit` line, run as written against a real cluster: a Ray head node
with its Jobs API, a PostgreSQL-backed MLflow server and Optuna storage; the campaign's runs,
study and best config are then where the README says they are."""
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
from tests.ray_nodes import ray_head
from tuning.campaign.paths import RunsFolder
from tuning.campaign.tracking import Tags

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
SPACE = {"name": "jobspace", "base": "digits-simclr", "num_samples": 2, "max_concurrent_trials": 1, "seed": 4,
         "scheduler": {"type": "fifo"},
         "overrides": {"schedule.epochs": 2, "data.batch_size": 128, "probe.offline_epochs": 2, "probe.knn": False,
                       "resources.workers": 1},
         "params": {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5}}}


def readme_job_line() -> list[str]:
    """The README's `ray job submit` command, as argv."""
    block = re.search(r"```\n(ray job submit .*?)\n```", (REPO / "README.md").read_text(), re.S)
    assert block, "the README has no `ray job submit` block"
    return shlex.split(block.group(1).replace("\\\n", " "))


def test_the_readmes_job_line_runs_a_campaign_whose_records_land_where_the_readme_says(tmp_path, monkeypatch):
    space = tmp_path / "jobspace.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    shared = tmp_path / "shared"
    with postgres_cluster() as postgres, mlflow_server(postgres, tmp_path / "artifacts") as server:
        node_env = {"PGPASSWORD": postgres.password,  # the head node's secret, not the job's command line
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        with ray_head(tmp_path, num_cpus=3, dashboard=True, env=node_env) as head:
            placeholders = {"http://HEAD:8265": head.dashboard, "simclr_careful": str(space),
                            "s3://bucket/dualtune": str(tmp_path / "ray"), "/shared/dualtune": str(shared),
                            "http://MLFLOW:5000": server, "postgresql://dualtune@DB/optuna": postgres.url("optuna")}
            line = readme_job_line()
            assert set(placeholders) <= set(line), f"the README's job line changed: {line}"
            command = [placeholders.get(word, word) for word in line]
            command[0] = str(Path(sys.executable).with_name("ray"))
            job = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                                 env={**os.environ, "RAY_AUTH_MODE": "token"})  # as the README says
            assert job.returncode == 0, job.stdout[-4000:] + job.stderr[-2000:]
            assert "succeeded" in job.stdout.lower(), job.stdout[-4000:]
            assert f"MLflow tracking URI: {server}" in job.stdout

        [campaign] = RunsFolder(shared).campaigns()  # its state in --runs-dir, which outlives the job
        assert campaign.startswith("jobspace-")
        client = MlflowClient(server)
        experiment = client.get_experiment_by_name("jobspace")
        runs = client.search_runs([experiment.experiment_id], f"tags.`{Tags.CAMPAIGN}` = '{campaign}'")
        assert sorted(Tags.TRIAL_ID in r.data.tags for r in runs) == [False, True, True]  # a parent, two trials
        assert {r.data.tags[Tags.STATUS] for r in runs if Tags.TRIAL_ID in r.data.tags} == {"completed"}
        monkeypatch.setenv("PGPASSWORD", postgres.password)
        study = optuna.load_study(study_name=campaign, storage=postgres.url("optuna"))
        assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
        best = shared / campaign / "best_config.yaml"
        assert f"# tracking_uri: {server}" in best.read_text()
        assert yaml.safe_load(best.read_text())["loss"]["method"] == "simclr"
        state = (shared / campaign / "campaign.json").read_text()
        assert postgres.url("optuna") in state and postgres.password not in state
        assert (tmp_path / "ray" / campaign).is_dir()  # Tune's results in --storage, not in the job's folder
