"""Verdicts that can fail: a claim about two arms read off the Welch 95% interval of their
difference over seeds.

"A helps over B" holds when the interval lies above 0 and is reversed when it lies below; "A
matches B" holds when the interval lies within +-``MATCH_MARGIN`` and fails when it lies
outside it.  Anything else (the interval straddles the line, or an arm has fewer than two
seeds) is "cannot tell": the data could have gone either way.

Each verdict also carries the p-value of the outcome it reached (or, undecided, of the nearest
one), scaled so that the verdict is decisive exactly when p < 1 - ``CONFIDENCE``; Holm's
step-down procedure over a family of verdicts (``holm``) then says which survive together.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from enum import Enum

from scipy import stats

CONFIDENCE = 0.95
# Points of top-1. The paper calls methods "on par" within 0.21-0.76 points at ImageNet scale
# (Table S5's best cells); at the CPU scale one run's test top-1 moves by 0.3-0.6 points
# between seeds (benchmarks/RESULTS.md), so a tie is claimed only within one point.
MATCH_MARGIN = 1.0


class Outcome(str, Enum):
    HELD = "held"
    FAILED = "did not hold"
    REVERSED = "reversed"
    UNDECIDED = "cannot tell"


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with its ``CONFIDENCE`` interval (Welch's, or the paired t interval of
    a[i] - b[i] when ``paired``), and how many runs each arm had."""
    mean: float
    low: float
    high: float
    seeds_a: int
    seeds_b: int
    paired: bool = False
    standard_error: float = 0.0
    dof: float = float("inf")

    def above(self, line: float) -> float:
        """The one-sided p-value of "the difference is at most ``line``" (small: it lies above)."""
        if self.standard_error == 0:
            return 0.0 if self.mean > line else 1.0
        return float(stats.t.sf((self.mean - line) / self.standard_error, self.dof))

    def below(self, line: float) -> float:
        """The one-sided p-value of "the difference is at least ``line``" (small: it lies below)."""
        if self.standard_error == 0:
            return 0.0 if self.mean < line else 1.0
        return float(stats.t.cdf((self.mean - line) / self.standard_error, self.dof))

    def describe(self) -> str:
        if self.paired:
            return (f"{self.mean:+.2f} points, 95% paired t interval {self.low:+.2f} to {self.high:+.2f} "
                    f"({self.seeds_a} pairs)")
        return (f"{self.mean:+.2f} points, 95% Welch interval {self.low:+.2f} to {self.high:+.2f} "
                f"({self.seeds_a} vs {self.seeds_b} seeds)")


def seed_interval(values: list[float]) -> tuple[float, float]:
    """Mean over seeds and the half-width of its ``CONFIDENCE`` t-interval (nan for one seed)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    quantile = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1))
    return mean, quantile * statistics.stdev(values) / len(values) ** 0.5


def welch_difference(a: list[float], b: list[float]) -> Difference | None:
    """The Welch interval of mean(a) - mean(b) (unequal variances, Welch-Satterthwaite degrees
    of freedom); None when an arm has fewer than two seeds."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    mean = statistics.fmean(a) - statistics.fmean(b)
    if va + vb == 0:
        return Difference(mean, mean, mean, len(a), len(b))
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof)) * (va + vb) ** 0.5
    return Difference(mean, mean - half, mean + half, len(a), len(b), standard_error=(va + vb) ** 0.5, dof=dof)


def paired_difference(a: list[float], b: list[float]) -> Difference | None:
    """The paired t interval of mean(a[i] - b[i]) (a and b measured on the same cells, in the same
    order); None for fewer than two pairs."""
    if len(a) != len(b):
        raise ValueError(f"paired arms need one value each per cell, got {len(a)} and {len(b)}")
    if len(a) < 2:
        return None
    differences = [x - y for x, y in zip(a, b)]
    mean, half = seed_interval(differences)
    return Difference(mean, mean - half, mean + half, len(a), len(b), paired=True,
                      standard_error=statistics.stdev(differences) / len(a) ** 0.5, dof=len(a) - 1)


@dataclass(frozen=True)
class Verdict:
    """A claim, the test that judged it, the measured difference and the outcome."""
    claim: str
    test: str
    difference: Difference | None
    outcome: Outcome
    p_value: float = 1.0  # of the outcome reached (undecided: of the nearest one); decisive iff below 1 - CONFIDENCE

    def sentence(self) -> str:
        measured = self.difference.describe() if self.difference else "fewer than two seeds in an arm"
        other_way = {Outcome.HELD: "the interval excludes the other outcome",
                     Outcome.FAILED: "the interval excludes the claim",
                     Outcome.REVERSED: "the interval excludes the claim",
                     Outcome.UNDECIDED: "the data could have gone either way"}[self.outcome]
        return f"{self.claim}: {measured}; test: {self.test}: **{self.outcome.value}** ({other_way})."


def helps(claim: str, a: list[float], b: list[float], paired: bool = False) -> Verdict:
    """"A helps over B": held if the interval (Welch's, or paired over seeds) of A - B lies above
    0, reversed if below, cannot tell if it contains 0. Its p-value: the two-sided t test of 0."""
    difference = paired_difference(a, b) if paired else welch_difference(a, b)
    if difference is None or difference.low <= 0 <= difference.high:
        outcome = Outcome.UNDECIDED
    else:
        outcome = Outcome.HELD if difference.low > 0 else Outcome.REVERSED
    p_value = 1.0 if difference is None else min(1.0, 2 * min(difference.above(0), difference.below(0)))
    return Verdict(claim, "A helps over B when the interval of A - B lies above 0", difference, outcome, p_value)


def matches(claim: str, a: list[float], b: list[float], margin: float = MATCH_MARGIN, paired: bool = False) -> Verdict:
    """"A matches B": held if the interval (Welch's, or paired over cells) lies within +-``margin``,
    did not hold if it lies wholly outside it, cannot tell if it crosses a margin's edge."""
    difference = paired_difference(a, b) if paired else welch_difference(a, b)
    if difference is None:
        outcome = Outcome.UNDECIDED
    elif -margin <= difference.low and difference.high <= margin:
        outcome = Outcome.HELD
    elif difference.low > margin or difference.high < -margin:
        outcome = Outcome.FAILED
    else:
        outcome = Outcome.UNDECIDED
    p_value = 1.0
    if difference is not None:  # both one-sided tests (TOST) for the tie, the nearer one for its failure
        within = max(difference.above(-margin), difference.below(margin))
        outside = min(difference.above(margin), difference.below(-margin))
        p_value = min(1.0, 2 * (within if outcome is Outcome.HELD else outside if outcome is Outcome.FAILED
                                else min(within, outside)))
    return Verdict(claim, f"A matches B when the interval of A - B lies within ±{margin:g} points", difference,
                   outcome, p_value)


def holm(verdicts: list[Verdict], level: float = 1 - CONFIDENCE) -> list[bool]:
    """Which of ``verdicts`` stay decisive as a family at ``level`` (Holm's step-down: the k-th
    smallest p-value of m is compared with level / (m - k + 1), stopping at the first that fails)."""
    order = sorted(range(len(verdicts)), key=lambda i: verdicts[i].p_value)
    survives = [False] * len(verdicts)
    for rank, index in enumerate(order):
        if verdicts[index].p_value >= level / (len(verdicts) - rank):
            break
        survives[index] = True
    return survives
