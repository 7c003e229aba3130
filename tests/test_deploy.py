"""The deployment files as far as this machine can check them (no Docker, no Kubernetes):
the RayJob manifest parses, its entrypoint is a dualtune command with valid flags, and the
Dockerfile installs the packages the project is made of."""
import shlex
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from search_spaces import find_space
from tuning.campaign.paths import RunsFolder
from tuning.campaign.services.stores import Stores
from tuning.cli import app

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_rayjob_manifest_runs_a_valid_dualtune_command():
    job = yaml.safe_load((DEPLOY / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    program, command, *args = shlex.split(job["spec"]["entrypoint"])
    assert program == "dualtune"
    cli = get_command(app)
    with cli.make_context("dualtune", [command, *args], resilient_parsing=False) as context:
        sub = cli.get_command(context, command)
        params = sub.make_context(command, list(args)).params  # raises on an unknown flag or bad value
    assert params["address"] == "auto" and params["storage"].startswith("s3://")
    assert find_space(params["space"]) is not None
    spec = job["spec"]["rayClusterSpec"]
    containers = [spec["headGroupSpec"]["template"]["spec"]["containers"][0],
                  *(g["template"]["spec"]["containers"][0] for g in spec["workerGroupSpecs"])]
    assert all(c["image"].startswith("REGISTRY/dualtune") for c in containers)
    assert all({"name": "shared", "mountPath": "/shared"} in c["volumeMounts"] for c in containers)
    assert params["runs_dir"] == Path("/shared/dualtune")  # the runs folder on the shared volume
    assert params["tracking_uri"].startswith("http://") and params["optuna_storage"].startswith("postgresql://")
    Stores.choose(RunsFolder("/shared/dualtune"), params["tracking_uri"], params["optuna_storage"])  # no password
    head_env = {e["name"]: e for e in containers[0]["env"]}
    assert head_env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"


def test_a_bad_flag_in_an_entrypoint_would_be_caught():
    cli = get_command(app)
    with cli.make_context("dualtune", ["tune"]) as context:
        tune = cli.get_command(context, "tune")
    with pytest.raises(Exception, match="No such option: --spaec"):  # typer's own click raises it
        tune.make_context("tune", ["--spaec", "smoke"])


def test_the_dockerfile_installs_every_package_of_the_project():
    text = (DEPLOY / "Dockerfile").read_text()
    for package in ("models", "pipelines", "tuning", "search_spaces"):
        assert f"COPY --chown=ray:users {package} /opt/dualtune/{package}" in text
    assert "libturbojpeg0-dev" in text and "pip install --no-cache-dir /opt/dualtune" in text
