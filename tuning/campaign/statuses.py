"""The words for how a trial stands, kept apart from the other four things called "status".

- ``TrialStatus``: dualtune's own word for a trial (tables, ``dualtune status``, the
  ``Tags.TRIAL_STATUS`` tag on its MLflow run).
- ``tuning.run.reports.RunState``: what the training loop says in each report.
- ``MLFLOW_RUN_STATUS``: the MLflow run status that each trial status maps to.
- ``TUNE_ENDED_STATES``: the Ray Tune trial states of a trial that has ended.
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
MLFLOW_RUN_STATUS = {TrialStatus.FAILED: "FAILED", TrialStatus.NO_CAPACITY: "KILLED", TrialStatus.STOPPED: "KILLED"}
"""MLflow's run status of a trial's run (FINISHED for every other ended status)."""
TUNE_ENDED_STATES = frozenset({"TERMINATED", "ERROR"})


def extend_command(campaign: str, runs_dir: str | Path, num_samples: int = 4) -> str:
    """The command that adds trials to a finished campaign, runnable as printed from any folder."""
    return f"dualtune tune --extend {campaign} --num-samples {num_samples} --runs-dir {Path(runs_dir).resolve()}"


def resume_command(campaign: str, runs_dir: str | Path, *, retry_errored: bool = False) -> str:
    """The command that continues a stopped campaign (``retry_errored``: its no_capacity trials
    too), runnable as printed from any folder: it names the campaign's runs folder in full (the
    campaign recorded its stores there, so it needs no store flags)."""
    return " ".join(["dualtune tune --resume", campaign, *(["--retry-errored"] if retry_errored else []),
                     "--runs-dir", str(Path(runs_dir).resolve())])
