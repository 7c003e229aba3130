"""Verdicts on synthetic seed tables: a clear lead, a clear tie, a too-noisy case and a
reversed premise each give their verdict; the Welch interval against a float64 reference."""
import math

import numpy as np
import pytest
from scipy import stats

from tuning.reproduction.verdicts import (
    MATCH_MARGIN,
    Outcome,
    Verdict,
    helps,
    holm,
    matches,
    paired_difference,
    seed_interval,
    welch_difference,
)

LEAD_A, LEAD_B = [81.8, 81.05, 81.6, 81.4, 81.7], [79.45, 80.11, 80.31, 79.9, 80.0]
TIE_A, TIE_B = [80.1, 80.3, 80.2, 80.0, 80.4], [80.2, 80.0, 80.35, 80.15, 80.25]
NOISY_A, NOISY_B = [78.0, 82.5, 80.0, 83.1, 77.2], [80.4, 79.9, 81.6, 78.8, 80.2]


def reference_welch(a, b):
    """Welch's interval written out in float64 with numpy, separately from the module."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    return a.mean() - b.mean() - half, a.mean() - b.mean() + half


@pytest.mark.parametrize("a,b", [(LEAD_A, LEAD_B), (TIE_A, TIE_B), (NOISY_A, NOISY_B), (LEAD_A[:2], NOISY_B)])
def test_welch_interval_matches_reference(a, b):
    difference = welch_difference(a, b)
    low, high = reference_welch(a, b)
    assert difference.low == pytest.approx(low, abs=1e-9) and difference.high == pytest.approx(high, abs=1e-9)
    assert difference.mean == pytest.approx(np.mean(a) - np.mean(b), abs=1e-9)
    assert (difference.seeds_a, difference.seeds_b) == (len(a), len(b))
    scipy_interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert difference.low == pytest.approx(scipy_interval.low, abs=1e-9)


def test_clear_lead_helps_and_does_not_match():
    assert helps("lead", LEAD_A, LEAD_B).outcome is Outcome.HELD
    assert matches("tie?", LEAD_A, LEAD_B).outcome is Outcome.FAILED  # the whole interval beyond +1 point


def test_clear_tie_matches_and_cannot_tell_a_lead():
    assert matches("tie", TIE_A, TIE_B).outcome is Outcome.HELD
    assert helps("lead?", TIE_A, TIE_B).outcome is Outcome.UNDECIDED


def test_too_noisy_decides_nothing():
    difference = welch_difference(NOISY_A, NOISY_B)
    assert difference.low < -MATCH_MARGIN and difference.high > MATCH_MARGIN
    assert helps("lead?", NOISY_A, NOISY_B).outcome is Outcome.UNDECIDED
    assert matches("tie?", NOISY_A, NOISY_B).outcome is Outcome.UNDECIDED
    assert "could have gone either way" in matches("tie?", NOISY_A, NOISY_B).sentence()


def test_reversed_premise_is_reported_as_reversed():
    verdict = helps("Orig below VICReg", LEAD_B, LEAD_A)
    assert verdict.outcome is Outcome.REVERSED
    assert "reversed" in verdict.sentence() and "-1." in verdict.sentence()


def test_one_seed_cannot_be_judged():
    assert welch_difference([80.0], LEAD_B) is None
    assert helps("one seed", [90.0], LEAD_B).outcome is Outcome.UNDECIDED
    assert "fewer than two seeds" in helps("one seed", [90.0], LEAD_B).sentence()


def test_seed_interval_against_reference():
    mean, half = seed_interval(LEAD_A)
    values = np.asarray(LEAD_A, np.float64)
    assert mean == pytest.approx(values.mean())
    assert half == pytest.approx(stats.t.ppf(0.975, 4) * values.std(ddof=1) / math.sqrt(5))
    assert math.isnan(seed_interval([81.0])[1])


def test_paired_interval_against_reference_and_its_verdicts():
    # cells that differ a lot from each other, and by a steady small amount between the arms
    cells = [78.0, 84.5, 80.2, 83.1, 81.7, 79.4]
    shifted = [c + s for c, s in zip(cells, (0.3, 0.1, 0.4, 0.2, 0.35, 0.25))]
    difference = paired_difference(shifted, cells)
    d = np.asarray(shifted, np.float64) - np.asarray(cells, np.float64)  # float64 reference, written out
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    assert (difference.low, difference.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert "paired t interval" in difference.describe() and "(6 pairs)" in difference.describe()
    assert matches("tie", shifted, cells, paired=True).outcome is Outcome.HELD
    assert matches("tie", shifted, cells).outcome is Outcome.UNDECIDED  # Welch sees the spread between cells
    dropped = [c - 2.0 - s for c, s in zip(cells, (0.3, 0.1, 0.4, 0.2, 0.35, 0.25))]
    assert matches("drop", dropped, cells, paired=True).outcome is Outcome.FAILED
    scattered = [c + s for c, s in zip(cells, (2.5, -2.0, 1.4, -1.8, 0.9, -0.6))]
    assert matches("noisy", scattered, cells, paired=True).outcome is Outcome.UNDECIDED
    assert paired_difference([80.0], [79.0]) is None
    with pytest.raises(ValueError, match="one value each per cell, got 2 and 3"):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("a,b", [(LEAD_A, LEAD_B), (NOISY_A, NOISY_B), (LEAD_B, LEAD_A)])
def test_p_values_against_scipys_t_tests(a, b):
    welch = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert helps("c", a, b).p_value == pytest.approx(welch, rel=1e-9)
    assert helps("c", a, b, paired=True).p_value == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    shifted = np.asarray(a, np.float64)
    tost = max(stats.ttest_ind(shifted + MATCH_MARGIN, b, equal_var=False, alternative="greater").pvalue,
               stats.ttest_ind(shifted - MATCH_MARGIN, b, equal_var=False, alternative="less").pvalue)
    outside = min(stats.ttest_ind(shifted - MATCH_MARGIN, b, equal_var=False, alternative="greater").pvalue,
                  stats.ttest_ind(shifted + MATCH_MARGIN, b, equal_var=False, alternative="less").pvalue)
    verdict = matches("c", a, b)
    expected = {Outcome.HELD: 2 * tost, Outcome.FAILED: 2 * outside}.get(verdict.outcome, 2 * min(tost, outside))
    assert verdict.p_value == pytest.approx(min(1.0, expected), rel=1e-9)
    assert (verdict.p_value < 0.05) == (verdict.outcome is not Outcome.UNDECIDED)  # decisive exactly below 5%


def test_holm_steps_down_and_stops_at_the_first_that_fails():
    p_values = [0.02, 0.001, 0.3, 0.012, 0.04]
    verdicts = [Verdict(f"c{i}", "t", None, Outcome.HELD if p < 0.05 else Outcome.UNDECIDED, p)
                for i, p in enumerate(p_values)]
    # written out: sorted 0.001 <= 0.05/5, 0.012 <= 0.05/4, 0.02 > 0.05/3 stops; Bonferroni keeps only 0.001
    assert holm(verdicts) == [False, True, False, True, False]
    assert holm(verdicts[:1]) == [True] and holm([]) == []
