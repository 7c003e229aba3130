"""The terminal while a campaign runs: the progress counts and estimate, plain lines when
stdout is not a terminal, and the libraries' stderr kept in the campaign's log file."""
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tuning.campaign.records.progress import CampaignProgress, ProgressDisplay


def test_progress_counts_trials_epochs_and_the_best(capsys):
    display = ProgressDisplay(CampaignProgress(planned_trials=4, epochs_per_trial=10))
    display.setup()
    a, b = SimpleNamespace(trial_id="a"), SimpleNamespace(trial_id="b")
    display.on_trial_start(0, [], a)
    display.on_trial_start(0, [], b)
    for epoch in (1, 2):
        display.on_trial_result(0, [], a, {"epoch": epoch, "online_select_top1": 40.0 + epoch})
    display.on_trial_result(0, [], b, {"epoch": 1, "online_select_top1": 60.0})
    display.on_trial_complete(0, [], b)  # ended after one epoch without "completed": ASHA stopped it
    progress = display.progress
    assert progress.counts() == {"running": 1, "completed": 0, "early_stopped": 1, "diverged": 0, "failed": 0,
                                 "no_capacity": 0}
    assert sum(progress.epochs.values()) == 3 and progress.best == (60.0, "b")
    assert 0 < progress.eta_s() and progress.budget == 40
    line = capsys.readouterr().out.strip().splitlines()[-1]  # not a terminal: plain lines
    assert "trial b early stopped" in line and "epochs 3/40" in line and "best online_select_top1 60.00 (b)" in line


def test_the_display_survives_tunes_pickling():
    import pickle

    display = ProgressDisplay(CampaignProgress(planned_trials=2, epochs_per_trial=3))
    again = pickle.loads(pickle.dumps(display))
    assert again.progress.planned_trials == 2 and again.live is None


@pytest.mark.service  # starts a process
def test_library_stderr_goes_to_the_log_and_ours_to_the_terminal(tmp_path):
    script = (
        "import logging, os, sys, pathlib\n"
        "from tuning.campaign.records.progress import library_output_to\n"
        "logging.basicConfig()\n"
        f"with library_output_to(pathlib.Path({str(tmp_path / 'driver.log')!r})):\n"
        "    sys.stderr.write('ray chatter\\n'); sys.stderr.flush()\n"
        "    import subprocess; subprocess.run([sys.executable, '-c', 'import sys; sys.stderr.write(\"tqdm bar from a "
        "child\\\\n\")'])\n"
        "    logging.getLogger('dualtune').warning('our warning')\n"
        "sys.stderr.write('after\\n')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=os.getcwd())
    log = (tmp_path / "driver.log").read_text()
    assert "ray chatter" in log and "tqdm bar from a child" in log and "our warning" not in log
    assert "our warning" in out.stderr and "ray chatter" not in out.stderr and "after" in out.stderr


def test_with_mode_min_the_best_so_far_is_the_lowest():
    progress = CampaignProgress(planned_trials=2, epochs_per_trial=3, metric="loss", mode="min")
    for trial_id, loss in (("a", 4.0), ("b", 2.5), ("a", 3.0)):
        progress.result(trial_id, {"epoch": 1, "loss": loss})
    assert progress.best == (2.5, "b")
