"""A campaign's pure bookkeeping: how a trial's end maps to its status, and the CSV of its rows."""
import csv
import io

import pytest

from tuning.campaign.records.results import TrialRecord, TrialRow, trial_status, trials_csv


@pytest.mark.parametrize("last, errored, expected", [
    ({"status": "completed"}, False, "completed"),
    ({"status": "diverged"}, False, "diverged"),
    ({"status": "running"}, False, "early_stopped"),  # ASHA stopped it before its last epoch
    (None, False, "early_stopped"),
    ({"status": "completed"}, True, "failed"),
])
def test_trial_status_follows_how_the_trial_ended(last, errored, expected):
    assert trial_status(last, errored) == expected


def test_a_retried_trial_that_finished_is_not_failed_by_its_old_error():
    finished = TrialRecord("t1", {}, [{"status": "running"}, {"status": "completed"}], "Traceback: worker died",
                           "/x", True)
    raised = TrialRecord("t2", {}, [{"status": "running"}], "Traceback: boom", "/y", True)
    assert (finished.status, raised.status) == ("completed", "failed")
    assert TrialRecord("t3", {}, [], None, "/z", False).last == {}


def test_trials_csv_has_one_line_per_row_with_params_and_metrics():
    rows = [TrialRow(trial_id="a", status="completed", sampled={"optim.base_lr": 0.3}, params={"optim.base_lr": 0.3},
                     online_select_top1=51.5, linear_probe_test_top1=60.25, epoch=2.0, duration_s=12.0, run_id="r1"),
            TrialRow(trial_id="b", status="early_stopped", sampled={"optim.base_lr": 1.0},
                     params={"optim.base_lr": 1.0}, online_select_top1=20.0, epoch=1.0)]
    table = list(csv.DictReader(io.StringIO(trials_csv(rows, ["optim.base_lr"]))))
    assert [r["trial_id"] for r in table] == ["a", "b"]
    assert table[0]["optim.base_lr"] == "0.3" and table[0]["linear_probe_test_top1"] == "60.25"
    assert table[0]["run_id"] == "r1" and table[1]["linear_probe_test_top1"] == ""
    assert table[1]["status"] == "early_stopped"
