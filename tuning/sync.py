"""Back-filling MLflow from Tune's own files: what the live logger missed (MLflow down, a
driver killed between a report and its write) is written from the trial folders.  Every
write is idempotent, so syncing twice changes nothing."""
from __future__ import annotations

from tuning.mlflow_logging import CampaignRuns
from tuning.results import TrialRecord


def sync_trial_runs(runs: CampaignRuns, records: list[TrialRecord]) -> dict[str, str]:
    """Make every trial's run hold its params, every reported epoch and, once the trial has
    ended, its final status.  Returns {trial id: run id}."""
    for record in records:
        run_id = runs.run_for(record.trial_id, record.config, str(record.path))
        runs.log_results(run_id, record.results)
        if record.ended:
            runs.close(run_id, record.status, record.last.get("reported_at", record.last.get("timestamp")))
    return {record.trial_id: runs.run_ids[record.trial_id] for record in records}
