"""The trial runs' MLflow writes on a real SQLite store: idempotent, and a long trial's
history (more metrics than one MLflow batch takes) is logged whole."""
from mlflow.tracking import MlflowClient

from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.tracking import CampaignRuns, Tags, open_store
from tuning.campaign.services.stores import Stores
from tuning.config import validate_config


def test_a_long_history_is_logged_whole_and_logging_it_again_changes_nothing(tmp_path):
    stores = Stores.default(RunsFolder(tmp_path))
    client, experiment_id = open_store(stores, "long")
    runs = CampaignRuns(stores, experiment_id, "c", lambda sampled: validate_config(sampled), None, tmp_path)
    results = [{"epoch": e, "reported_at": 1000.0 + e, **{f"m{k}": float(e + k) for k in range(30)}}
               for e in range(1, 101)]  # 3,000 metric values: three MLflow batches
    run_id = runs.run_for("t1", {"seed": 3}, "/somewhere")
    for _ in range(2):
        runs.log_results(run_id, results)
    runs.close(run_id, "completed", ended_at=1100.0)
    history = MlflowClient(runs.client.tracking_uri).get_metric_history(run_id, "m7")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(e, e + 7.0) for e in range(1, 101)]
    run = client.get_run(run_id)
    assert run.data.params["seed"] == "3" and run.data.tags[Tags.TRIAL_STATUS] == "completed"
    assert run.info.status == "FINISHED" and run.info.end_time == 1_100_000
    runs.close(run_id, "completed")  # a later sync closes it again
    assert client.get_run(run_id).info.end_time == 1_100_000  # the trial's end, not the sync's
    assert runs.run_for("t1", {"seed": 3}, "/somewhere") == run_id  # found again, not duplicated
    fresh = CampaignRuns(stores, experiment_id, "c", lambda sampled: validate_config(sampled), None, tmp_path)
    assert fresh.run_for("t1", {"seed": 3}, "/somewhere") == run_id
