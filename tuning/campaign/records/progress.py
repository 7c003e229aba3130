"""What the terminal shows while a campaign runs: a live panel (rich) on a terminal, plain
log lines elsewhere (CI, ``ray job submit``), and the libraries' own chatter (Ray, FFCV,
Optuna, MLflow) kept in a log file under the campaign's folder unless ``-v``."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ray import tune
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tuning.campaign.private_apis import ray_driver_messages_to
from tuning.campaign.records.results import TrialRecord, error_text, read_trial_records, trial_status
from tuning.campaign.statuses import ENDED
from tuning.campaign.tune_results import epoch_of
from tuning.run import reports


@dataclass
class CampaignProgress:
    """Counts kept from Tune's callbacks: trials by state, epochs trained, the best so far."""
    planned_trials: int
    epochs_per_trial: int
    metric: str = reports.ONLINE_TOP1
    mode: str = "max"
    started: float = field(default_factory=time.monotonic)
    running: set[str] = field(default_factory=set)
    ended: dict[str, str] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=dict)
    best: tuple[float, str] | None = None

    def result(self, trial_id: str, result: dict) -> None:
        """Count an epoch; its value may be the best so far unless its trial diverged (a diverged
        report carries chance-level scores, not a result)."""
        self.epochs[trial_id] = epoch_of(result)
        if result.get(reports.RUN_STATE) == reports.RunState.DIVERGED:
            return
        value = result.get(self.metric)
        better = (lambda a, b: a > b) if self.mode == "max" else (lambda a, b: a < b)
        if isinstance(value, (int, float)) and (self.best is None or better(value, self.best[0])):
            self.best = (float(value), trial_id)

    def load(self, records: list[TrialRecord]) -> None:
        """Start from what a campaign's trials recorded before this driver (a resume): every
        reported epoch, how the ended ones ended, the best so far; none counts as running."""
        self.running.clear()
        for record in records:
            for result in record.results:
                self.result(record.trial_id, result)
            if record.status.ended:
                self.ended[record.trial_id] = record.status

    def counts(self) -> dict[str, int]:
        ended = list(self.ended.values())
        return {"running": len(self.running), **{status: ended.count(status) for status in ENDED}}

    def eta_s(self) -> float | None:
        """The rest of the campaign at the epoch rate so far, if every planned epoch were trained
        (ASHA stops some trials early, so this is an upper estimate)."""
        done = sum(self.epochs.values())
        if not done:
            return None
        return (time.monotonic() - self.started) / done * max(0, self.budget - done)

    @property
    def budget(self) -> int:
        return self.planned_trials * self.epochs_per_trial

    def line(self) -> str:
        counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in self.counts().items() if n)
        best = f"best {self.metric} {self.best[0]:.2f} ({self.best[1]})" if self.best else f"no {self.metric} yet"
        eta = self.eta_s()
        left = f", ~{_clock(eta)} left at most" if eta is not None else ""
        return (f"trials: {counts or 'starting'} of {self.planned_trials}; epochs {sum(self.epochs.values())}"
                f"/{self.budget}; {best}; {_clock(time.monotonic() - self.started)} elapsed{left}")

    def table(self) -> Table:
        table = Table(title="campaign progress", show_header=False, min_width=60)
        for key, value in (("trials", ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in self.counts().items())),
                           ("epochs", f"{sum(self.epochs.values())} of at most {self.budget}"),
                           (f"best {self.metric}", f"{self.best[0]:.2f} (trial {self.best[1]})" if self.best else "-"),
                           ("elapsed", _clock(time.monotonic() - self.started)),
                           ("left (at most)", _clock(self.eta_s()) if self.eta_s() is not None else "-")):
            table.add_row(key, value)
        return table


def _recorded(tune_results: str | None) -> list[TrialRecord]:
    """The trials a Tune experiment recorded; none before its first state is saved (a new campaign)."""
    if not tune_results:
        return []
    try:
        return read_trial_records(tune_results)
    except ValueError:  # Tune: "No experiment snapshot file ... was found"
        return []


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class ProgressDisplay(tune.Callback):
    """Feeds CampaignProgress from Tune and shows it on stdout: a live panel refreshed in place
    on a terminal, else one plain line per ended trial (and per 10 epochs trained).  Tune
    pickles its callbacks with the experiment, so the display is made at ``setup``, and a
    resumed campaign's display starts from what ``tune_results`` (its Tune experiment) recorded."""

    def __init__(self, progress: CampaignProgress, tune_results: str | None = None):
        self.progress, self.tune_results = progress, tune_results
        self.last_results: dict[str, dict] = {}
        self.live: Live | None = None
        self._lines_at = 0

    def __getstate__(self):
        return {**self.__dict__, "live": None}

    def setup(self, **info):
        self.progress.started = time.monotonic()  # this driver's session (a resume starts its own)
        recorded = _recorded(getattr(self, "tune_results", None))
        if recorded:
            self.progress.load(recorded)
            self.last_results = {record.trial_id: record.last for record in recorded}
        if sys.stdout.isatty():
            # stderr is not drawn into the panel: the libraries' chatter stays in the campaign's log
            self.live = Live(self.progress.table(), console=Console(file=sys.stdout), auto_refresh=False,
                             redirect_stderr=False)
            self.live.start()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.progress.running.add(trial.trial_id)
        self._show(event=f"trial {trial.trial_id} started")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.progress.result(trial.trial_id, result)
        self.last_results[trial.trial_id] = result
        self._show(every_epochs=10)

    def _ended(self, trial, errored: bool) -> None:
        self.progress.running.discard(trial.trial_id)
        status = trial_status(self.last_results.get(trial.trial_id), errored, error_text(trial) if errored else None)
        self.progress.ended[trial.trial_id] = status
        self._show(event=f"trial {trial.trial_id} {status.replace('_', ' ')}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ended(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._ended(trial, errored=True)

    def on_experiment_end(self, trials, **info):
        if self.live:
            self.live.stop()

    def _show(self, event: str | None = None, every_epochs: int | None = None) -> None:
        if self.live:
            self.live.update(self.progress.table(), refresh=True)
            return
        done = sum(self.progress.epochs.values())
        if event or (every_epochs and done >= self._lines_at + every_epochs):
            self._lines_at = done
            prefix = f"{event}; " if event else ""
            print(f"dualtune [{time.strftime('%H:%M:%S')}] {prefix}{self.progress.line()}", flush=True)



@contextlib.contextmanager
def library_output_to(log_file: Path | None, until_exit: bool = False) -> Iterator[None]:
    """While a campaign runs, send everything written to this process's stderr (Ray's and
    FFCV's chatter, Optuna's and MLflow's info logs) and the cluster's messages Ray prints
    on the driver's stdout (a node marked dead, an actor lost) to ``log_file``, and
    dualtune's own warnings to the real stderr.  With ``log_file`` None (``-v``) nothing
    is redirected.  ``until_exit``: the process's stderr stays in the log after the campaign,
    so what the libraries print as the interpreter shuts down (numba's finalizers) goes there
    too (for a command that runs one campaign and exits)."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal_err = os.fdopen(os.dup(saved), "w", buffering=1)
    ours = logging.StreamHandler(terminal_err)
    ours.setFormatter(logging.Formatter("dualtune: %(levelname)s: %(message)s"))
    logger = logging.getLogger("dualtune")
    logger.addHandler(ours)
    logger.propagate = False
    with open(log_file, "a") as log, ray_driver_messages_to(lambda text: (log.write(text), log.flush())):
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            if not until_exit:  # else fd 2 stays on the log, and our warnings on the terminal, to the end
                os.dup2(saved, 2)
                logger.removeHandler(ours)
                logger.propagate = True
                terminal_err.close()
            os.close(saved)
