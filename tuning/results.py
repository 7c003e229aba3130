"""What a campaign returns: one row per trial from Tune's results, and the whole as CSV."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning.checkpoints import newest_checkpoint
from tuning.mlflow_logging import trial_status

ENDED_STATES = {"TERMINATED", "ERROR"}
SUMMARY_METRICS = ("online_top1", "linear_probe_top1", "knn_top1", "loss", "epoch")


@dataclass
class CampaignResult:
    name: str
    rows: list[dict[str, Any]]
    tracking_uri: str
    experiment: str
    experiment_id: str
    parent_run_id: str | None
    best: dict[str, Any] | None
    exported: Path | None
    runs_dir: Path
    storage: str
    wall_time_s: float
    param_names: list[str] = field(default_factory=list)
    mlflow_synced: bool = True


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

    @property
    def last(self) -> dict[str, Any]:
        return self.results[-1] if self.results else {}

    @property
    def status(self) -> str:
        finished = self.last.get("status") in ("completed", "diverged")  # a retried trial may keep an old error
        return trial_status(self.last, self.error is not None and not finished)


def storage_filesystem(storage: str):
    """(pyarrow filesystem, path in it) for a storage path or URI (a local path must be absolute)."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(storage)


def _read_text(filesystem, path: str) -> str | None:
    try:
        with filesystem.open_input_stream(path) as stream:
            return stream.read().decode()
    except (FileNotFoundError, OSError):
        return None


def read_trial_records(experiment: str) -> list[TrialRecord]:
    """The trials of a Tune experiment (a folder path or URI) that reported or failed,
    sorted by id.  Reads Tune's experiment state and each trial's result.json and
    error.txt, so it works after the driver is gone (without a cluster)."""
    from ray.tune import ExperimentAnalysis

    filesystem, _ = storage_filesystem(experiment)
    records = []
    for trial in ExperimentAnalysis(experiment).trials:
        text = _read_text(filesystem, f"{trial.path}/result.json") or ""
        record = TrialRecord(trial.trial_id, dict(trial.config), [json.loads(line) for line in text.splitlines()
                                                                   if line.strip()],
                             _read_text(filesystem, f"{trial.path}/error.txt"), trial.path,
                             trial.status in ENDED_STATES)
        if record.results or record.error:
            records.append(record)
    return sorted(records, key=lambda r: r.trial_id)


def trial_rows(records: list[TrialRecord], campaign: str, run_ids: dict[str, str], param_names: list[str],
               storage: str) -> list[dict[str, Any]]:
    """One row per trial: id, status, searched params, summary metrics, duration, MLflow run
    id, error line and newest checkpoint (Tune's own for one-worker trials, else the Train run's)."""
    filesystem, root = storage_filesystem(storage)
    rows = []
    for record in records:
        last = record.last
        checkpoint = (newest_checkpoint(record.path, filesystem)
                      or newest_checkpoint(f"{root}/{campaign}-{record.trial_id}", filesystem))
        row = {"trial_id": record.trial_id, "status": record.status, "duration_s": last.get("time_total_s"),
               "run_id": run_ids.get(record.trial_id), "config": record.config,
               "params": {p: record.config[p] for p in param_names if p in record.config},
               "error": record.error.strip().splitlines()[-1] if record.error else None, "checkpoint": checkpoint}
        row.update({m: last.get(m) for m in SUMMARY_METRICS})
        rows.append(row)
    return rows


def trials_csv(rows: list[dict[str, Any]], param_names: list[str]) -> str:
    """The rows as CSV text (the parent run's trials.csv)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial_id", "status", *param_names, *SUMMARY_METRICS, "duration_s", "run_id"])
    for r in rows:
        writer.writerow([r["trial_id"], r["status"], *(r["params"].get(p) for p in param_names),
                         *(r.get(m) for m in SUMMARY_METRICS), r["duration_s"], r["run_id"]])
    return buffer.getvalue()
