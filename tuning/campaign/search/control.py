"""Steering a running campaign from outside its driver: a control file in the campaign's
folder (the driver's pid, and until when it may launch trials), ``dualtune stop``, and
SIGTERM treated like Tune's graceful stop.

A stopped campaign is resumable: Tune saves its experiment state, running trials end at
their last checkpoint (every ``checkpoint.every_epochs``), and ``--resume`` continues them.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

from tuning.campaign.paths import RunsFolder
from tuning.campaign.statuses import resume_command
from tuning.errors import ConfigError, StoreError

# Tune's own graceful stop: it saves the experiment state and ends the run (SIGINT does the
# same when Tune's handler is on; SIGUSR1 always is).
STOP_SIGNAL = signal.SIGUSR1
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str = "--time-budget") -> float:
    """Seconds in ``90s``, ``30m``, ``48h``, ``2d`` or ``1h30m`` (``flag`` names it in errors)."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text.strip().lower())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.strip().lower() or text.strip() == "":
        raise ConfigError(f"{flag} {text!r} is not a duration; write e.g. 90s, 30m, 48h, 2d or 1h30m")
    seconds = sum(float(n) * DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"{flag} {text!r} must be longer than zero")
    return seconds


def write_control(runs: RunsFolder, campaign: str, time_budget_s: float | None) -> None:
    """Record this process as the campaign's driver and, with a budget, until when it may
    launch new trials (trials already running then are left to finish)."""
    launch_until = time.time() + time_budget_s if time_budget_s else None
    runs.control_file(campaign).write_text(json.dumps({"driver_pid": os.getpid(), "launch_until": launch_until}))


def launch_deadline(control_file: Path) -> float | None:
    """The time after which no new trial may start (None: no budget)."""
    try:
        return json.loads(Path(control_file).read_text()).get("launch_until")
    except (OSError, ValueError):
        return None


def recorded_driver(runs: RunsFolder, campaign: str) -> int | None:
    """The pid of the last driver the campaign recorded (None: it has no control file here)."""
    control = runs.control_file(campaign)
    return json.loads(control.read_text())["driver_pid"] if control.is_file() else None


def driver_running(pid: int) -> bool:
    """Whether ``pid`` is still a dualtune driver (not gone, nor reused by another program)."""
    import psutil

    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return "dualtune" in command or "tuning" in command


def request_stop(runs: RunsFolder, campaign: str) -> int:
    """Ask the campaign's running driver to stop gracefully; returns its pid."""
    pid = recorded_driver(runs, campaign)
    if pid is None:
        raise StoreError(f"no campaign {campaign!r} in {runs.root} (known: {', '.join(runs.campaigns()) or 'none'})")
    if not driver_running(pid):
        raise StoreError(f"campaign {campaign!r} has no running driver (pid {pid} is gone); it is already stopped "
                         f"(resume it with: {resume_command(campaign, runs.root)})")
    os.kill(pid, STOP_SIGNAL)
    return pid


def stop_on_sigterm() -> None:
    """Make SIGTERM on the driver a graceful stop, like ``dualtune stop``."""
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), STOP_SIGNAL))
