"""Fault: the campaign driver is SIGKILLed after its first trial finished; then
``dualtune tune --resume NAME``.  The trials have one worker (they train in the Tune trial
process) and Ray's results live on --storage, apart from the runs folder.  Expected: every
trial completes exactly once; the Tune results, the MLflow runs (none left RUNNING, none
duplicated) and the Optuna study agree."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests.spaces import write_tiny_space
from tuning.campaign.records.tracking import Tags
from tuning.campaign.search.driver import CampaignOptions, resume_campaign

pytestmark = pytest.mark.slow


def _completed_trials(db):
    """Completed trial runs of campaign 'drv', read from the SQLite file read-only: an MLflow
    client would run the store's schema migration, racing the driver that is creating it."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("select count(*) from tags t join runs r on t.run_uuid = r.run_uuid "
                               "join experiments e on r.experiment_id = e.experiment_id "
                               "where e.name = 'drv' and t.key = ? and t.value = 'completed'",
                               (Tags.TRIAL_STATUS,)).fetchone()[0]
    except sqlite3.Error:  # the store is still being created
        return 0


def test_killed_driver_resumes_and_every_trial_runs_once(ray_cluster, tmp_path):
    space = tmp_path / "drv.yaml"
    write_tiny_space(space, "drv", num_samples=3, max_concurrent_trials=1, seed=3,
                     overrides={"probe.offline_epochs": 5},
                     metric="online_select_top1")  # what Optuna's values are checked against
    runs = tmp_path / "runs"
    shared = tmp_path / "shared"  # Ray's results on "shared storage", apart from the runs folder
    driver_log = tmp_path / "driver.log"
    with driver_log.open("w") as log:
        driver = subprocess.Popen([sys.executable, "-m", "tuning.cli", "tune", "--space", str(space), "--runs-dir",
                                   str(runs), "--storage", str(shared), "--name", "drv"], start_new_session=True,
                                  stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and _completed_trials(runs / "mlflow.db") < 1 and driver.poll() is None:
        time.sleep(1)
    assert driver.poll() is None, f"the driver ended before it could be killed:\n{driver_log.read_text()[-3000:]}"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray cluster it started
    driver.wait()
    assert _completed_trials(runs / "mlflow.db") < 3

    result = resume_campaign("drv", CampaignOptions(runs_dir=runs))
    assert result.storage == str(shared) and (shared / "drv").is_dir() and not (runs / "ray").exists()

    assert len(result.rows) == 3 and {r.status for r in result.rows} == {"completed"}
    client = MlflowClient(result.tracking_uri)
    runs_found = client.search_runs([client.get_experiment_by_name("drv").experiment_id],
                                    f"tags.`{Tags.CAMPAIGN}` = 'drv'")
    trial_runs = [r for r in runs_found if Tags.TRIAL_ID in r.data.tags]
    assert sorted(r.data.tags[Tags.TRIAL_ID] for r in trial_runs) == sorted(r.trial_id for r in result.rows)
    assert all(r.info.status == "FINISHED" for r in runs_found)
    by_trial = {r.trial_id: r for r in result.rows}
    for run in trial_runs:  # each trial logged its one epoch once, with the value Tune holds
        history = client.get_metric_history(run.info.run_id, "online_select_top1")
        assert [(m.step, m.value) for m in history] == [(1, by_trial[run.data.tags[Tags.TRIAL_ID]].online_select_top1)]
    study = optuna.load_study(study_name="drv", storage=f"sqlite:///{runs / 'optuna.db'}")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.value for t in complete) == pytest.approx(sorted(r.online_select_top1 for r in result.rows))
