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


def test_a_resumed_display_starts_from_the_whole_recorded_history(capsys):
    from tuning.campaign.records.results import TrialRecord

    def record(trial_id, scores, ended, last_state="running"):
        results = [{"epoch": e, "online_select_top1": s, "status": "running"} for e, s in enumerate(scores, 1)]
        results[-1]["status"] = last_state
        return TrialRecord(trial_id, {}, results, None, "", ended)

    display = ProgressDisplay(CampaignProgress(planned_trials=4, epochs_per_trial=3))
    display.progress.load([record("a", [70.0, 79.3, 79.3], True, "completed"),
                           record("b", [75.0, 79.5, 79.4], True, "completed"),
                           record("c", [60.0], True), record("d", [65.0, 70.0], False)])
    progress = display.progress
    assert sum(progress.epochs.values()) == 9 and progress.best == (79.5, "b")
    assert progress.counts() == {"running": 0, "completed": 2, "early_stopped": 1, "diverged": 0, "failed": 0,
                                 "no_capacity": 0}  # d waits to be resumed: Tune starts it again
    display.on_trial_start(0, [], SimpleNamespace(trial_id="d"))
    assert "2 completed, 1 early stopped" in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.service  # starts a process
def test_until_exit_the_libraries_stderr_stays_in_the_log_after_the_campaign(tmp_path):
    script = (
        "import logging, sys, pathlib\n"
        "from tuning.campaign.records.progress import library_output_to\n"
        "logging.basicConfig()\n"
        f"with library_output_to(pathlib.Path({str(tmp_path / 'driver.log')!r}), until_exit=True):\n"
        "    sys.stderr.write('during\\n')\n"
        "sys.stderr.write('Exception ignored in: <finalize object>\\n'); sys.stderr.flush()\n"
        "logging.getLogger('dualtune').warning('our warning after')\n"
        "print('summary')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=os.getcwd())
    log = (tmp_path / "driver.log").read_text()
    assert "during" in log and "Exception ignored" in log and "our warning after" not in log
    assert out.stderr == "dualtune: WARNING: our warning after\n" and out.stdout == "summary\n"


def test_a_diverged_trials_chance_scores_are_never_the_best():
    progress = CampaignProgress(planned_trials=2, epochs_per_trial=3, metric="frozen_ridge_select_top1")
    progress.result("a", {"epoch": 1, "status": "diverged", "frozen_ridge_select_top1": 10.0})
    assert progress.best is None and progress.epochs == {"a": 1}
    progress.result("b", {"epoch": 1, "status": "running", "frozen_ridge_select_top1": 8.0})
    assert progress.best == (8.0, "b")
