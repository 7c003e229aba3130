"""The words for how a trial stands, kept apart from the other four things called "status".

- ``TrialStatus``: dualtune's own word for a trial (tables, ``dualtune status``, the
  ``Tags.TRIAL_STATUS`` tag on its MLflow run).
- ``tuning.run.reports.RunState``: what the training loop says in each report.
- ``MLFLOW_RUN_STATUS``: the MLflow run status that each trial status maps to.
- ``tuning.campaign.tune_results``: the Ray Tune trial states.
"""
from __future__ import annotations

import enum
from pathlib import Path


class TrialStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"  # trained every epoch and was evaluated
    EARLY_STOPPED = "early_stopped"  # the scheduler (ASHA) stopped it at a rung
    DIVERGED = "diverged"  # its loss went non-finite
    FAILED = "failed"  # it raised
    STOPPED = "stopped"  # unfinished in a stopped campaign: resumable
    NO_CAPACITY = "no_capacity"  # its workers found no room on the live nodes in time: resumable

    @property
    def ended(self) -> bool:
        return self not in (TrialStatus.RUNNING, TrialStatus.STOPPED)


ENDED = tuple(status for status in TrialStatus if status.ended)
MLFLOW_RUNNING, MLFLOW_FINISHED, MLFLOW_KILLED, MLFLOW_FAILED = "RUNNING", "FINISHED", "KILLED", "FAILED"
MLFLOW_RUN_STATUS = {TrialStatus.FAILED: MLFLOW_FAILED, TrialStatus.NO_CAPACITY: MLFLOW_KILLED,
                     TrialStatus.STOPPED: MLFLOW_KILLED}
"""MLflow's run status of a trial's run (``MLFLOW_FINISHED`` for every other ended status)."""


def extend_command(campaign: str, runs_dir: str | Path, num_samples: int = 4) -> str:
    """The command that adds trials to a finished campaign, runnable as printed from any folder."""
    return f"dualtune tune --extend {campaign} --num-samples {num_samples} --runs-dir {Path(runs_dir).resolve()}"


def resume_command(campaign: str, runs_dir: str | Path, *, retry_errored: bool = False) -> str:
    """The command that continues a stopped campaign (``retry_errored``: its no_capacity trials
    too), runnable as printed from any folder: it names the campaign's runs folder in full (the
    campaign recorded its stores there, so it needs no store flags)."""
    return " ".join(["dualtune tune --resume", campaign, *(["--retry-errored"] if retry_errored else []),
                     "--runs-dir", str(Path(runs_dir).resolve())])
