"""What ``dualtune tune`` and ``dualtune pretrain`` exit with, so that a CI step or a workflow
engine can tell a campaign that found something from one that did not."""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from tuning.campaign.statuses import TrialStatus

if TYPE_CHECKING:  # the CLI imports this module at start: Ray stays unimported until a command needs it
    from tuning.campaign.records.results import CampaignResult


class ExitCode(enum.IntEnum):
    OK = 0  # finished, at least one trial completed (and, unless allowed, none failed)
    BAD_INPUT = 2  # refused before any compute: the message names the bad value
    STOPPED = 3  # stopped with trials unfinished: resumable with the printed --resume command
    NO_TRIAL_COMPLETED = 4  # finished, but every trial failed, diverged or was cut early
    TRIALS_FAILED = 5  # finished with completed trials, but some raised (--allow-failed: 0)
    INTERRUPTED = 130  # Ctrl-C before a campaign had started (the shell's code; a started one stops as 3)


EXPLAINED = "; ".join(f"{code.value} {code.name.lower().replace('_', ' ')}" for code in ExitCode)
"""The codes in one line, for ``--help``."""


def campaign_exit_code(result: CampaignResult, allow_failed: bool = False) -> ExitCode:
    """The code a finished (or stopped) campaign's command exits with."""
    statuses = [row.status for row in result.rows]
    if result.unfinished or TrialStatus.NO_CAPACITY in statuses:
        return ExitCode.STOPPED
    if TrialStatus.COMPLETED not in statuses:
        return ExitCode.NO_TRIAL_COMPLETED
    if TrialStatus.FAILED in statuses and not allow_failed:
        return ExitCode.TRIALS_FAILED
    return ExitCode.OK
