"""The whole campaign path on a tiny budget: real local Ray, real .beton, real MLflow SQLite
store, read back after the fact; then the exported best config reruns through pretrain."""
import pytest
import yaml
from mlflow.tracking import MlflowClient

from search_spaces.loader import load_space
from tuning.campaign import run_campaign, run_pretrain
from tuning.config import load_config
from tuning.mlflow_logging import CONFIG_HASH_TAG, STATUS_TAG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def campaign(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    space_file = root / "tiny.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "tiny", "base": "digits-simclr", "num_samples": 2, "max_concurrent_trials": 2, "seed": 1,
        "scheduler": {"type": "fifo"},
        "overrides": {"schedule.epochs": 1, "probe.offline_epochs": 5, "data.batch_size": 128},
        "params": {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5, "log": True},
                   "optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}},
        "points_to_evaluate": [{"loss.params.temperature": 0.15, "optim.base_lr": 0.5}],
    }))
    result = run_campaign(load_space(str(space_file)), root / "runs", name="tiny-campaign")
    return result, root


def test_every_trial_completes_with_metrics(campaign):
    result, _ = campaign
    assert len(result.rows) == 2
    assert {r["status"] for r in result.rows} == {"completed"}
    assert any(r["params"]["loss.params.temperature"] == 0.15 for r in result.rows)  # the starting point ran
    for r in result.rows:
        assert 0.0 <= r["linear_probe_top1"] <= 100.0 and r["linear_probe_top1"] > 10.0  # above chance (10 classes)
        assert r["epoch"] == 1


def test_mlflow_holds_parent_and_children_with_params_and_metrics(campaign):
    result, _ = campaign
    client = MlflowClient(result.tracking_uri)
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert [p.info.run_id for p in parents] == [result.parent_run_id]
    assert len(children) == 2
    assert all(r.info.status == "FINISHED" for r in runs)
    for child in children:
        params = child.data.params
        assert float(params["loss.params.temperature"]) in [row["params"]["loss.params.temperature"]
                                                            for row in result.rows]
        assert params["model.projector"] == "512-512-128" and params["data.batch_size"] == "128"
        assert float(params["optim.effective_lr"]) == pytest.approx(float(params["optim.base_lr"]) * 128 / 256)
        metrics = child.data.metrics
        assert {"loss", "online_top1", "images_per_s", "lr", "linear_probe_top1", "rankme"} <= set(metrics)
        history = client.get_metric_history(child.info.run_id, "online_top1")
        assert [m.step for m in history] == [1]
        assert child.data.tags[STATUS_TAG] == "completed"
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags["dualtune.best_trial"] == result.best["trial_id"]
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"trials.csv", "search_space.yaml", "best_config.yaml"} <= artifacts


def test_exported_config_reruns_and_logs_the_same_params(campaign):
    result, root = campaign
    exported = load_config(result.exported)
    best_run = MlflowClient(result.tracking_uri).get_run(result.best["run_id"])
    assert best_run.data.tags[CONFIG_HASH_TAG] == exported.digest()
    assert f"mlflow_run_id: {result.best['run_id']}" in result.exported.read_text()

    rerun = run_pretrain(str(result.exported), root / "runs", name="rerun")
    assert rerun.parent_run_id is None and len(rerun.rows) == 1 and rerun.rows[0]["status"] == "completed"
    client = MlflowClient(rerun.tracking_uri)
    rerun_run = client.get_run(rerun.rows[0]["run_id"])
    assert "mlflow.parentRunId" not in rerun_run.data.tags
    assert rerun_run.data.params == best_run.data.params
    assert rerun_run.data.tags[CONFIG_HASH_TAG] == exported.digest()


def test_duality_check_reports_table_s4_for_the_best_checkpoint(campaign):
    from typer.testing import CliRunner

    from tuning.cli import app

    result, root = campaign
    checkpoint = result.best["checkpoint"]
    assert checkpoint is not None and (checkpoint / "backbone.safetensors").is_file()
    out = CliRunner().invoke(app, ["duality-check", "--checkpoint", str(checkpoint), "--runs-dir",
                                   str(root / "runs"), "--batch-size", "64", "--run-id", result.best["run_id"]])
    assert out.exit_code == 0, out.output
    metrics = MlflowClient(result.tracking_uri).get_run(result.best["run_id"]).data.metrics
    assert metrics["duality/N"] == 64 and metrics["duality/M"] == 128
    assert abs(metrics["duality/theorem33_residual"]) < 1e-6 * metrics["duality/L_c"]
    assert metrics["duality/colnorm_lower_bound"] <= metrics["duality/colnorm_sum_row_norm4"]
