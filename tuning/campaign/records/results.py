"""What a campaign's trials did, read from Tune's own files: one record per trial, one row
per trial for tables, CSV and export, and the campaign's result as a whole."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning.campaign.services.capacity import is_no_capacity
from tuning.campaign.statuses import TrialStatus
from tuning.campaign.tune_results import ENDED_STATES, RESULT_FILE, TIME_TOTAL_S, epoch_of, epochs_trained
from tuning.run import reports
from tuning.run.checkpoints import newest_checkpoint

SUMMARY_METRICS = (reports.ONLINE_TOP1, reports.LINEAR_PROBE_SELECT_TOP1, reports.LINEAR_PROBE_TEST_TOP1,
                   reports.KNN_TEST_TOP1, reports.LOSS, reports.EPOCH)


def trial_status(last_result: dict[str, Any] | None, errored: bool, error_text: str | None = None) -> TrialStatus:
    """How an ended trial ended, from its last report and its error (if it raised)."""
    if errored:
        return TrialStatus.NO_CAPACITY if is_no_capacity(error_text) else TrialStatus.FAILED
    state = (last_result or {}).get(reports.RUN_STATE)
    if state in (reports.RunState.COMPLETED, reports.RunState.DIVERGED):
        return TrialStatus(state)
    return TrialStatus.EARLY_STOPPED


def error_text(trial) -> str | None:
    """A Tune trial's recorded error, as text: its local error file (written before Tune's
    callbacks hear of the error), else the copy in storage; None when none can be read."""
    if trial.error_file and Path(trial.error_file).is_file():
        return Path(trial.error_file).read_text()
    try:
        error = trial.get_error()
    except Exception:  # an unreadable error file must not break a callback
        return None
    return str(error) if error is not None else None


@dataclass
class TrialRecord:
    """One Tune trial: sampled params, every report, its error if it raised, its folder (a
    path in the storage's filesystem), and whether Tune records it as ended."""
    trial_id: str
    config: dict[str, Any]
    results: list[dict[str, Any]]
    error: str | None
    path: str
    ended: bool
    launch_index: int = 0  # its place in the order Tune created the experiment's trials

    @property
    def epochs(self) -> int:
        """The epochs it trained (``epochs_trained`` over its results)."""
        return epochs_trained(epoch_of(result) for result in self.results)

    @property
    def last(self) -> dict[str, Any]:
        return self.results[-1] if self.results else {}

    @property
    def status(self) -> TrialStatus:
        """How the trial ended, or ``stopped`` while it waits to be resumed."""
        if not self.ended:
            return TrialStatus.STOPPED
        # a retried trial may keep an old error
        finished = self.last.get(reports.RUN_STATE) in (reports.RunState.COMPLETED, reports.RunState.DIVERGED)
        return trial_status(self.last, self.error is not None and not finished, self.error)


@dataclass(frozen=True)
class TrialRow:
    """One trial as tables, CSV and export see it: its sampled values (``sampled``; the
    searched ones again as ``params``), final summary metrics and where its run and
    newest checkpoint are."""
    trial_id: str
    status: str
    sampled: dict[str, Any]
    params: dict[str, Any]
    duration_s: float | None = None
    run_id: str | None = None
    error: str | None = None
    checkpoint: str | None = None
    online_select_top1: float | None = None
    linear_probe_select_top1: float | None = None
    linear_probe_test_top1: float | None = None
    knn_test_top1: float | None = None
    loss: float | None = None
    epoch: float | None = None

    def metric(self, name: str) -> float | None:
        return getattr(self, name, None)


@dataclass
class CampaignResult:
    """What ``run_campaign``, ``resume_campaign`` and ``sync_campaign`` return."""
    name: str
    rows: list[TrialRow]
    tracking_uri: str
    experiment: str
    experiment_id: str
    parent_run_id: str | None
    best: TrialRow | None
    exported: Path | None
    runs_dir: Path
    storage: str
    wall_time_s: float
    param_names: list[str] = field(default_factory=list)
    mlflow_synced: bool = True
    unfinished: int = 0  # trials left to resume (the campaign was stopped)
    baselines: dict[str, float] = field(default_factory=dict)  # tuning.run.baselines of its base config
    at_bound: list[str] = field(default_factory=list)  # the best trial's values at a searched bound (bounds.py)


def storage_filesystem(storage: str):
    """(pyarrow filesystem, path in it) for a storage path or URI (a local path must be absolute)."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(storage)


def recorded_epochs(filesystem, trial_path: str) -> set[int]:
    """The epochs a trial's result.json (Tune's record of its reports, in storage) holds."""
    text = read_storage_text(filesystem, f"{trial_path}/{RESULT_FILE}") or ""
    return {json.loads(line).get(reports.EPOCH) for line in text.splitlines() if line.strip()}


def read_storage_text(filesystem, path: str) -> str | None:
    """A file's text in a pyarrow filesystem (Ray's storage); None when it cannot be read."""
    try:
        with filesystem.open_input_stream(path) as stream:
            return stream.read().decode()
    except (FileNotFoundError, OSError):
        return None


def read_trial_records(tune_results: str) -> list[TrialRecord]:
    """Every trial of a Tune results folder (a path or URI), those that never reported included
    (a campaign stopped before their first epoch resumes them), sorted by id (``launch_index``
    keeps the order they were created in).  Reads Tune's experiment state and each trial's
    result.json and error.txt, so it works after the driver is gone (without a cluster)."""
    from ray.tune import ExperimentAnalysis

    filesystem, _ = storage_filesystem(tune_results)
    records = []
    for launch_index, trial in enumerate(ExperimentAnalysis(tune_results).trials):
        text = read_storage_text(filesystem, f"{trial.path}/{RESULT_FILE}") or ""
        record = TrialRecord(trial_id=trial.trial_id, config=dict(trial.config),
                             results=[json.loads(line) for line in text.splitlines() if line.strip()],
                             error=read_storage_text(filesystem, f"{trial.path}/error.txt"), path=trial.path,
                             ended=trial.status in ENDED_STATES, launch_index=launch_index)
        records.append(record)
    return sorted(records, key=lambda r: r.trial_id)


def trial_rows(records: list[TrialRecord], campaign: str, run_ids: dict[str, str], param_names: list[str],
               storage: str) -> list[TrialRow]:
    """One row per trial; its checkpoint is Tune's own for one-worker trials, else the
    newest of its Train run (named after the campaign and trial)."""
    filesystem, root = storage_filesystem(storage)
    rows = []
    for record in records:
        last = record.last
        checkpoint = (newest_checkpoint(record.path, filesystem)
                      or newest_checkpoint(f"{root}/{campaign}-{record.trial_id}", filesystem))
        rows.append(TrialRow(
            trial_id=record.trial_id, status=record.status, sampled=record.config,
            params={p: record.config[p] for p in param_names if p in record.config},
            duration_s=last.get(TIME_TOTAL_S), run_id=run_ids.get(record.trial_id),
            error=record.error.strip().splitlines()[-1] if record.error else None, checkpoint=checkpoint,
            **{m: last.get(m) for m in SUMMARY_METRICS if m != reports.EPOCH}, epoch=record.epochs))
    return rows


def trials_csv(rows: list[TrialRow], param_names: list[str]) -> str:
    """The rows as CSV text (the parent run's trials.csv)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial_id", "status", *param_names, *SUMMARY_METRICS, "duration_s", "run_id"])
    for r in rows:
        writer.writerow([r.trial_id, r.status, *(r.params.get(p) for p in param_names),
                         *(r.metric(m) for m in SUMMARY_METRICS), r.duration_s, r.run_id])
    return buffer.getvalue()
