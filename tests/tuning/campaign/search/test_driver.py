"""The whole campaign path on a tiny budget: real local Ray, real .beton, real MLflow SQLite
store, read back after the fact; then the exported best config reruns through pretrain and
reproduces the trial's numbers."""
import json
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.chromium import render, visible_text
from tests.servers import dualtune_server
from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.export import rerun_command
from tuning.campaign.records.plots import PLOTS
from tuning.campaign.records.tracking import Tags
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import load_space
from tuning.config import load_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def campaign(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    space_file = root / "tiny.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "tiny", "base": "digits-simclr", "num_samples": 2, "max_concurrent_trials": 2, "seed": 1,
        "scheduler": {"type": "fifo"},
        "overrides": {"schedule.epochs": 1, "probe.offline_epochs": 5, "data.batch_size": 128,
                      "probe.supervised_baseline": True},
        "params": {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5, "log": True},
                   "optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}},
        "points_to_evaluate": [{"loss.params.temperature": 0.15, "optim.base_lr": 0.5}],
        "settings": [{"when": {"loss.params.temperature": [0.15]}, "set": {"optim.weight_decay": 1.0e-5}}],
    }))
    result = run_campaign(load_space(str(space_file)), CampaignOptions(runs_dir=root / "runs"), name="tiny-campaign")
    return result, root


def test_every_trial_completes_with_metrics(campaign):
    result, _ = campaign
    assert len(result.rows) == 2
    assert {r.status for r in result.rows} == {"completed"}
    assert any(r.params["loss.params.temperature"] == 0.15 for r in result.rows)  # the starting point ran
    for r in result.rows:
        assert 0.0 <= r.linear_probe_test_top1 <= 100.0 and r.linear_probe_test_top1 > 10.0  # above chance (10 classes)
        assert r.epoch == 1


def test_mlflow_holds_parent_and_children_with_params_and_metrics(campaign):
    result, root = campaign
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
        assert float(params["loss.params.temperature"]) in [row.params["loss.params.temperature"]
                                                            for row in result.rows]
        assert params["model.projector"] == "512-512-128" and params["data.batch_size"] == "128"
        # the space's settings rule: weight decay 1e-5 for the starting point's temperature only
        assert float(params["optim.weight_decay"]) == (1e-5 if float(params["loss.params.temperature"]) == 0.15
                                                       else 1e-6)
        assert float(params["optim.effective_lr"]) == pytest.approx(float(params["optim.base_lr"]) * 128 / 256)
        metrics = child.data.metrics
        assert {"loss", "online_select_top1", "online_train_top1", "select_time_s", "images_per_s", "lr", "rankme",
                "linear_probe_test_top1", "linear_probe_lr", "linear_probe_select_top1", "knn_test_top1",
                "knn_select_top1"} <= set(metrics)
        history = client.get_metric_history(child.info.run_id, "online_select_top1")
        assert [m.step for m in history] == [1]
        assert child.data.tags[Tags.TRIAL_STATUS] == "completed"
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags[Tags.BEST_TRIAL] == result.best.trial_id
    baselines = {k: v for k, v in parent.data.metrics.items() if k.startswith("baseline_")}
    assert set(baselines) == {f"baseline_{r}_{s}" for r in ("raw_pixels", "random_features", "untrained", "supervised")
                              for s in ("linear_probe_test_top1", "knn_test_top1")}
    assert baselines == pytest.approx(result.baselines) and all(10.0 < v <= 100.0 for v in baselines.values())
    # the supervised ceiling trained once, kept beside the other baselines in the runs folder
    assert len(list(RunsFolder(root / "runs").data_dir.glob("supervised-*.json"))) == 1
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"trials.csv", "search_space.yaml", "best_config.yaml", "optuna"} <= artifacts
    with tempfile.TemporaryDirectory() as tmp:  # the space as it ran, loadable again
        logged = load_space(client.download_artifacts(result.parent_run_id, "search_space.yaml", tmp))
    assert logged.params.keys() == {"loss.params.temperature", "optim.base_lr"} and len(logged.settings) == 1
    assert logged.overrides["schedule.epochs"] == 1
    plots = {a.path for a in client.list_artifacts(result.parent_run_id, "optuna")}
    assert plots == {"optuna/plots.html", *(f"optuna/{name}.png" for name in PLOTS)}
    assert parent.data.tags["version.ray"].startswith("2.60") and parent.data.tags["version.ffcv"] == "1.0.2"
    assert parent.data.params["sampler.constant_liar"] == "True" and parent.data.params["sampler"] == "tpe"
    from pipelines.beton import fingerprint
    from tuning.campaign.records.provenance import code_version

    train_beton = next((root / "runs" / "data").glob("*train*.beton"))
    for run in [parent, *children]:  # where each run came from: code and data
        tags = run.data.tags
        assert set(code_version()) <= set(tags) and len(tags.get("code.git_commit", "x" * 40)) == 40
        assert tags["data.train_fingerprint"] == fingerprint(train_beton)
    best_files = {a.path for a in client.list_artifacts(result.best.run_id, "model")}
    assert best_files == {"model/backbone.safetensors", "model/best_config.yaml"}
    assert all(child.data.tags[Tags.TRIAL_ID] in Path(child.data.tags[Tags.TRIAL_PATH]).name for child in children)


def test_exported_config_reruns_and_logs_the_same_params(campaign):
    result, root = campaign
    exported = load_config(result.exported)
    best_run = MlflowClient(result.tracking_uri).get_run(result.best.run_id)
    assert best_run.data.tags[Tags.CONFIG_HASH] == exported.digest()
    assert f"mlflow_run_id: {result.best.run_id}" in result.exported.read_text()

    printed = rerun_command(result.exported, result.tracking_uri).split()  # what the summary prints
    assert printed[:2] == ["dualtune", "pretrain"]
    elsewhere = root / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "tuning.cli", *printed[1:]], cwd=elsewhere, capture_output=True,
                          text=True, timeout=600)  # as printed, from another folder
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    client = MlflowClient(result.tracking_uri)  # the campaign's own store: the file's tracking_uri
    experiment = client.get_experiment_by_name("pretrain").experiment_id
    [rerun_run] = client.search_runs([experiment], f"tags.`{Tags.CONFIG_HASH}` = '{exported.digest()}'")
    assert "mlflow.parentRunId" not in rerun_run.data.tags
    assert rerun_run.data.params == best_run.data.params
    for metric in ("loss", "online_select_top1", "linear_probe_test_top1"):  # seeded end to end: the same numbers
        assert rerun_run.data.metrics[metric] == pytest.approx(result.best.metric(metric), rel=1e-6), metric


def test_duality_check_reports_table_s4_for_the_best_checkpoint(campaign):
    from typer.testing import CliRunner

    from tuning.cli import app

    result, root = campaign
    checkpoint = result.best.checkpoint
    assert checkpoint is not None and (Path(checkpoint) / "backbone.safetensors").is_file()
    trained = {row.trial_id: json.loads((Path(row.checkpoint) / "config.json").read_text())
               for row in result.rows}  # what each trial really trained, with the space's settings rule
    assert sorted(c["optim"]["weight_decay"] for c in trained.values()) == [1e-6, 1e-5]
    assert all(c["optim"]["weight_decay"] == (1e-5 if c["loss"]["params"]["temperature"] == 0.15 else 1e-6)
               for c in trained.values())
    assert trained[result.best.trial_id] == load_config(result.exported).model_dump(mode="json")
    out = CliRunner().invoke(app, ["duality-check", "--checkpoint", str(checkpoint), "--runs-dir",
                                   str(root / "runs"), "--batch-size", "64", "--run-id", result.best.run_id])
    assert out.exit_code == 0, out.output
    metrics = MlflowClient(result.tracking_uri).get_run(result.best.run_id).data.metrics
    assert metrics["duality/N"] == 64 and metrics["duality/M"] == 128
    assert abs(metrics["duality/theorem33_residual"]) < 1e-6 * metrics["duality/L_c"]
    assert metrics["duality/colnorm_lower_bound"] <= metrics["duality/colnorm_sum_row_norm4"]


def test_the_best_is_the_trial_with_the_best_offline_probe_on_select(campaign):
    result, _ = campaign
    # chosen on select, never on test (which of the two trials scores higher on test is chance)
    assert result.best.linear_probe_select_top1 == max(row.linear_probe_select_top1 for row in result.rows)
    assert result.best.status == "completed"


def test_eval_reruns_the_probes_on_a_checkpoint_and_logs_them_on_its_trial_run(campaign):
    from typer.testing import CliRunner

    from tuning.cli import app

    result, root = campaign
    out = CliRunner().invoke(app, ["eval", "--checkpoint", str(result.best.checkpoint), "--runs-dir",
                                   str(root / "runs"), "--set", "probe.offline_epochs=3",
                                   "--set", "probe.offline_lr_points=3"])
    assert out.exit_code == 0, out.output
    assert f"logged to MLflow run {result.best.run_id}" in out.output  # found from the checkpoint's folder
    run = MlflowClient(result.tracking_uri).get_run(result.best.run_id)
    assert 10.0 < run.data.metrics["eval/linear_probe_test_top1"] <= 100.0
    assert run.data.metrics["eval/knn_test_top1"] == pytest.approx(result.best.knn_test_top1)  # k-NN settings unchanged
    assert run.data.params["eval.probe.offline_epochs"] == "3"
    # kept as it was
    assert run.data.metrics["linear_probe_test_top1"] == pytest.approx(result.best.linear_probe_test_top1)
    refused = CliRunner().invoke(app, ["eval", "--checkpoint", str(result.best.checkpoint), "--runs-dir",
                                       str(root / "runs"), "--set", "optim.base_lr=1"])
    assert refused.exit_code == 2 and "probe.* settings only" in refused.output


def test_analyze_logs_numbers_and_figures_on_each_trial_run(campaign, tmp_path):
    from typer.testing import CliRunner

    from tuning.cli import app

    result, root = campaign
    args = ["analyze", "--runs-dir", str(root / "runs"), "--images", "128", "--out", str(tmp_path / "figures")]
    for row in result.rows:
        args += ["--checkpoint", str(row.checkpoint), "--name", row.trial_id]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    client = MlflowClient(result.tracking_uri)
    first, second = result.rows
    for row, other in ((first, second), (second, first)):  # each found from its checkpoint's folder
        run = client.get_run(row.run_id)
        assert run.data.metrics["analysis/images"] == 256  # --images 128, raised to small_cnn's 256-d features
        assert 0.0 < run.data.metrics[f"analysis/cka_{other.trial_id}"] <= 1.0
        artifacts = {a.path for a in client.list_artifacts(row.run_id, "analysis")}
        assert {"analysis/spectra.png", "analysis/cka.png", "analysis/analysis.html"} <= artifacts
    assert (client.get_run(first.run_id).data.metrics[f"analysis/cka_{second.trial_id}"]
            == client.get_run(second.run_id).data.metrics[f"analysis/cka_{first.trial_id}"])


def test_status_and_export_read_the_campaign_back_from_mlflow(campaign, tmp_path):
    from typer.testing import CliRunner

    from tuning.cli import app

    result, root = campaign
    runner = CliRunner()
    status = runner.invoke(app, ["status", "tiny-campaign", "--runs-dir", str(root / "runs")])
    assert status.exit_code == 0, status.output
    for row in result.rows:
        assert row.trial_id in status.output
    rows = [line for line in status.output.splitlines() if any(r.trial_id in line for r in result.rows)]
    assert len(rows) == 2 and all("completed" in line for line in rows)
    assert f"{result.best.trial_id} *" in status.output and "as export picks it" in status.output
    as_json = runner.invoke(app, ["status", "tiny-campaign", "--runs-dir", str(root / "runs"), "--format", "json"])
    document = json.loads(as_json.stdout)
    records = {r["trial_id"]: r for r in document["trials"]}
    assert set(records) == {row.trial_id for row in result.rows}
    assert document["best_trial"] == result.best.trial_id and document["best_by"] == "linear_probe_select_top1"
    assert [r["trial_id"] for r in records.values() if r["best"]] == [result.best.trial_id]
    assert document["rung_metric"] == "frozen_ridge_select_top1"
    assert document["baselines"] == pytest.approx(result.baselines) and len(document["baselines"]) >= 4
    for row in result.rows:  # as the campaign's summary says, full precision, the searched names in full
        record = records[row.trial_id]
        assert record["linear_probe_test_top1"] == pytest.approx(row.linear_probe_test_top1)
        assert record["knn_test_top1"] == pytest.approx(row.knn_test_top1)
        assert isinstance(record["optim.base_lr"], float) and record["optim.base_lr"] == row.params["optim.base_lr"]
        assert record["epochs"] == row.epoch == 1 and isinstance(record["frozen_ridge_select_top1"], float)
        assert record["duration_s"] == pytest.approx(row.duration_s)
    as_csv = runner.invoke(app, ["status", "tiny-campaign", "--runs-dir", str(root / "runs"), "--format", "csv"])
    lines = as_csv.stdout.strip().splitlines()
    assert lines[0].startswith("trial_id,status,") and "optim.base_lr" in lines[0] and len(lines) == 3
    wrong = runner.invoke(app, ["status", "tiny-campaign", "--runs-dir", str(root / "runs"), "--format", "xml"])
    assert wrong.exit_code == 2 and "'xml' is not one of table, csv, json" in wrong.output
    exported = runner.invoke(app, ["export", "tiny-campaign", "--top", "2", "-o", str(tmp_path),
                                   "--runs-dir", str(root / "runs")])
    assert exported.exit_code == 0, exported.output
    files = sorted(tmp_path.glob("tiny-campaign-top*.yaml"))
    assert [f.name.split("-")[2] for f in files] == ["top1", "top2"]
    top1 = load_config(files[0])
    assert top1.digest() == load_config(result.exported).digest()  # same trial as the campaign's own export
    client = MlflowClient(result.tracking_uri)
    assert client.get_run(result.best.run_id).data.tags[Tags.EXPORTED_TO] == str(files[0])
    missing = runner.invoke(app, ["status", "nope", "--runs-dir", str(root / "runs")])
    assert missing.exit_code == 2 and "known: " in missing.output and "tiny-campaign" in missing.output


@pytest.fixture(scope="module")
def mlflow_ui(campaign):
    """``dualtune ui`` on a free loopback port, serving the campaign's store; yields its URL."""
    _, root = campaign
    with dualtune_server(["ui", "--runs-dir", str(root / "runs")], "/health") as served:
        yield served


def test_ui_serves_the_campaign_over_its_rest_api_on_loopback_only(campaign, mlflow_ui):
    result, _ = campaign
    url, port = mlflow_ui
    experiment_id = MlflowClient(result.tracking_uri).get_experiment_by_name("tiny").experiment_id
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search",
                                     json.dumps({"experiment_ids": [experiment_id]}).encode(),
                                     {"Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
    runs = {r["info"]["run_id"]: r for r in answer["runs"]}
    assert len(runs) == 3  # the parent and its two trials
    best = runs[result.best.run_id]
    params = {p["key"]: p["value"] for p in best["data"]["params"]}
    metrics = {m["key"]: m["value"] for m in best["data"]["metrics"]}
    assert float(params["loss.params.temperature"]) == pytest.approx(result.best.params["loss.params.temperature"])
    assert metrics["linear_probe_test_top1"] == pytest.approx(result.best.linear_probe_test_top1)
    others = [a.address for addresses in psutil.net_if_addrs().values() for a in addresses
              if a.family == socket.AF_INET and not a.address.startswith("127.")]
    assert others, "this machine has no non-loopback IPv4 address to probe"
    for other in others:  # bound to loopback only: the machine's other addresses refuse
        with pytest.raises(OSError):
            socket.create_connection((other, port), timeout=2)


def test_ui_renders_the_campaign_and_a_trial_in_chromium(campaign, mlflow_ui, tmp_path):
    result, _ = campaign
    url, _ = mlflow_ui
    client = MlflowClient(result.tracking_uri)
    experiment_id = client.get_experiment_by_name("tiny").experiment_id
    experiment_page = render(f"{url}/#/experiments/{experiment_id}/runs", tmp_path / "chromium")
    assert "tiny-campaign" in experiment_page  # the campaign's parent run in the runs table
    trial = result.rows[0]
    run_name = client.get_run(trial.run_id).info.run_name
    run_page = render(f"{url}/#/experiments/{experiment_id}/runs/{trial.run_id}", tmp_path / "chromium")
    assert run_name == f"tiny-campaign-{trial.trial_id}" and run_name in run_page


def test_the_printed_link_opens_the_trials_with_their_search_and_scores(campaign, mlflow_ui, tmp_path):
    from tuning.campaign.records.tracking import EXPERIMENT_KIND, MODEL_TRAINING, ui_path

    result, _ = campaign
    url, _ = mlflow_ui
    client = MlflowClient(result.tracking_uri)
    assert client.get_experiment(result.experiment_id).tags[EXPERIMENT_KIND] == MODEL_TRAINING
    page = visible_text(render(f"{url}/{ui_path(result.experiment_id, result.name)}", tmp_path / "chromium"))
    assert "Model training" in page and "You're viewing a shared view" in page
    for column in ("loss.params.temperature", "optim.base_lr", "online_select_top1", "linear_probe_test_top1",
                   "dualtune.status"):
        assert column in page, column
    for row in result.rows:  # every trial is listed (not folded under the parent), with its own numbers
        assert f"tiny-campaign-{row.trial_id}" in page
        assert str(client.get_run(row.run_id).data.metrics["linear_probe_test_top1"])[:6] in page
