"""Tune's record of a trial's reports (its ``result.json``), kept whole across stops and resumes.

Tune writes each trial's results to a file in the driver's staging folder and syncs that folder
over the trial's folder in storage.  A resumed driver starts a fresh staging folder, and Tune
copies the stored file back only when its saved state names a checkpoint for the trial; a trial
stopped before that state was saved would have its stored history overwritten by the lines
reported after the resume.  ``ResultLog`` is Tune's JSON logger with two rules added:
- a trial's stored history is copied back whenever the staging file is missing;
- an epoch already in the file is not written again (a resumed trial re-delivers the reports
  that had not reached storage; it may deliver one that had).
"""
from __future__ import annotations

import json
from pathlib import Path

from ray.tune.logger import JsonLoggerCallback

from tuning.campaign.records.results import read_storage_text
from tuning.campaign.tune_results import RESULT_FILE, epoch_of


class ResultLog(JsonLoggerCallback):
    """Tune's ``result.json`` writer that keeps a trial's history and each epoch once."""

    def __init__(self):
        super().__init__()
        self._epochs: dict[str, set[int]] = {}

    def log_trial_start(self, trial) -> None:
        trial.init_local_path()
        staged = Path(trial.local_path, RESULT_FILE)
        if not staged.is_file():
            stored = read_storage_text(trial.storage.storage_filesystem, f"{trial.storage.trial_fs_path}/{RESULT_FILE}")
            if stored:
                staged.write_text(stored)
        super().log_trial_start(trial)
        text = staged.read_text() if staged.is_file() else ""
        self._epochs[trial.trial_id] = {epoch_of(json.loads(line)) for line in text.splitlines() if line.strip()}

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        if trial not in self._trial_files:
            self.log_trial_start(trial)
        epoch = epoch_of(result)
        if epoch in self._epochs[trial.trial_id]:
            return
        self._epochs[trial.trial_id].add(epoch)
        super().log_trial_result(iteration, trial, result)
