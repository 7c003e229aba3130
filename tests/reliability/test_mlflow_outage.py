"""Fault: the MLflow store becomes unusable mid-campaign.  Another process holds an
exclusive lock on the SQLite store (as a stuck writer on shared storage would) from the
moment the first trial's run exists until after the campaign returns.

Expected: every trial trains to completion; the driver warns instead of failing; the
campaign's result says MLflow is behind; afterwards ``dualtune sync`` back-fills the
missing run, every epoch, the statuses and the parent run from Tune's results, and a
second sync changes nothing."""
import sqlite3
import threading
import time

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from tests.spaces import write_tiny_space
from tuning.campaign.records.tracking import Tags
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import load_space
from tuning.cli import app

pytestmark = pytest.mark.slow


def _trial_runs_in(db) -> int:
    try:
        with sqlite3.connect(db, timeout=0.1) as con:
            return con.execute("select count(*) from tags where key = ?", (Tags.TRIAL_ID,)).fetchone()[0]
    except sqlite3.Error:  # not created yet, or busy
        return 0


def _hold_store(db, locked: threading.Event, release: threading.Event):
    while _trial_runs_in(db) == 0 and not release.is_set():
        time.sleep(0.05)
    con = sqlite3.connect(db, timeout=30)
    con.execute("BEGIN EXCLUSIVE")
    locked.set()
    release.wait()
    con.rollback()
    con.close()


def test_mlflow_outage_loses_nothing_and_sync_back_fills(ray_cluster, tmp_path):
    space_file = tmp_path / "outage.yaml"
    write_tiny_space(space_file, "outage", num_samples=2, max_concurrent_trials=1,
                     overrides={"probe.offline_epochs": 5})
    runs_dir = tmp_path / "runs"
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_store, args=(runs_dir / "mlflow.db", locked, release))
    holder.start()
    try:
        result = run_campaign(load_space(str(space_file)), CampaignOptions(runs_dir=runs_dir), name="outage")
    finally:
        release.set()
        holder.join()

    assert locked.is_set(), "the store was never locked"
    assert [r.status for r in result.rows] == ["completed", "completed"]  # training went on
    assert not result.mlflow_synced and result.exported.is_file()
    client = MlflowClient(result.tracking_uri)
    experiment_id = client.get_experiment_by_name("outage").experiment_id
    assert len([r for r in client.search_runs([experiment_id]) if Tags.TRIAL_ID in r.data.tags]) < 2

    for _ in range(2):  # the second sync must change nothing
        synced = CliRunner().invoke(app, ["sync", "outage", "--runs-dir", str(runs_dir)])
        assert synced.exit_code == 0, synced.output
        runs = client.search_runs([experiment_id])
        trials = {r.data.tags[Tags.TRIAL_ID]: r for r in runs if Tags.TRIAL_ID in r.data.tags}
        assert sorted(trials) == sorted(row.trial_id for row in result.rows)
        for row in result.rows:
            run = trials[row.trial_id]
            assert (run.data.tags[Tags.TRIAL_STATUS], run.info.status) == ("completed", "FINISHED")
            assert float(run.data.params["loss.params.temperature"]) == row.params["loss.params.temperature"]
            history = client.get_metric_history(run.info.run_id, "online_select_top1")
            assert [(m.step, m.value) for m in history] == [(1, row.online_select_top1)]
            assert run.data.metrics["linear_probe_test_top1"] == row.linear_probe_test_top1
        parent = client.get_run(result.parent_run_id)
        assert parent.info.status == "FINISHED" and parent.data.tags[Tags.BEST_TRIAL] == result.best.trial_id
        assert "trials.csv" in {a.path for a in client.list_artifacts(result.parent_run_id)}
