"""Anytime curves, speed-ups and bootstrap intervals, against float64 references written here."""
import math

import numpy as np
import pytest

from tuning.campaign.replay.compare import (
    Step,
    bootstrap,
    compare,
    epochs_to,
    incumbent_steps,
    mean,
    speedup,
    value_at,
)
from tuning.campaign.replay.engine import Replayed, ReplayedTrial
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports


def _steps(*points):
    return [Step(epochs, float(epochs), select, test) for epochs, select, test in points]


def test_the_incumbent_at_a_budget_is_the_last_change_before_it():
    steps = _steps((4, 80.0, 79.0), (12, 82.0, 81.5), (20, 83.0, 80.0))
    assert math.isnan(value_at(steps, 3))
    assert value_at(steps, 12) == 81.5 and value_at(steps, 19) == 81.5 and value_at(steps, 64) == 80.0
    assert epochs_to(steps, 81.0) == 12.0 and epochs_to(steps, 90.0) == math.inf


def test_speedup_divides_the_references_epochs_to_its_median_final_by_the_strategys():
    reference = [_steps((8, 0, 80.0), (30, 0, 82.0)), _steps((10, 0, 81.0), (40, 0, 83.0)), _steps((50, 0, 85.0))]
    runs = [_steps((5, 0, 83.0)), _steps((10, 0, 84.0)), _steps((20, 0, 83.0))]
    # finals 82, 83, 85 -> target 83; the reference reaches it at inf, 40, 50 -> median 50; the runs at 5, 10, 20 -> 10
    assert speedup(reference, runs, 64) == pytest.approx(5.0)
    assert speedup(reference, [_steps((8, 0, 70.0))] * 3, 64) == 0.0  # never reaches it


def test_bootstrap_interval_matches_a_float64_reference():
    finals = [81.2, 83.5, 82.0, 84.1, 80.7, 83.3, 82.9]
    low, high = bootstrap(mean, [finals], draws=500, seed=7)
    rng = np.random.default_rng(7)
    data = np.asarray(finals, dtype=np.float64)
    means = [data[rng.integers(0, len(data), len(data))].mean() for _ in range(500)]
    assert (low, high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])), abs=1e-12)
    assert low < np.mean(data) < high


def test_a_two_sample_bootstrap_resamples_each_sample_on_its_own():
    a, b = [1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0]
    low, high = bootstrap(lambda x, y: mean(y) - mean(x), [a, b], draws=300, seed=1)
    rng = np.random.default_rng(1)
    xa, xb = np.asarray(a), np.asarray(b)
    diffs = []
    for _ in range(300):
        ra = xa[rng.integers(0, 4, 4)]
        rb = xb[rng.integers(0, 3, 3)]
        diffs.append(rb.mean() - ra.mean())
    assert (low, high) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])), abs=1e-12)


def test_compare_reports_regret_against_the_best_cell():
    runs = [_steps((8, 0, 80.0)), _steps((8, 0, 82.0))]
    result = compare("x", runs, runs, 16, best_test=83.0)
    assert result.incumbent == 81.0 and result.regret == pytest.approx(2.0) and result.speedup == 1.0
    assert result.regret_interval[0] <= 2.0 <= result.regret_interval[1]


def test_the_anytime_curve_starts_at_the_first_completed_trial():
    # a trial stopped at its first rung ends first; export's fallback (the campaign's metric, here the
    # online probe) would pick it, but it has no select linear probe, so it is no incumbent yet
    stopped = ReplayedTrial("0", {}, 1, TrialStatus.EARLY_STOPPED, {reports.ONLINE_TOP1: 60.0}, 1.0, 1)
    completed = ReplayedTrial("1", {}, 4, TrialStatus.COMPLETED, {
        reports.ONLINE_TOP1: 55.0, reports.LINEAR_PROBE_SELECT_TOP1: 81.0, reports.LINEAR_PROBE_TEST_TOP1: 80.0},
        5.0, 5)
    replayed = Replayed([stopped, completed], [(1.0, 1), (5.0, 5)], reports.ONLINE_TOP1)
    assert replayed.incumbent(by_epoch=1) is stopped  # export's own fallback, kept
    assert incumbent_steps(replayed) == [Step(5, 5.0, 81.0, 80.0)]
