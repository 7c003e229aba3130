"""Verdicts that can fail: a claim about two arms read off the Welch 95% interval of their
difference over seeds.

"A helps over B" holds when the interval lies above 0 and is reversed when it lies below; "A
matches B" holds when the interval lies within +-``MATCH_MARGIN`` and fails when it lies
outside it.  Anything else (the interval straddles the line, or an arm has fewer than two
seeds) is "cannot tell": the data could have gone either way.
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
    return Difference(mean, mean - half, mean + half, len(a), len(b))


def paired_difference(a: list[float], b: list[float]) -> Difference | None:
    """The paired t interval of mean(a[i] - b[i]) (a and b measured on the same cells, in the same
    order); None for fewer than two pairs."""
    if len(a) != len(b):
        raise ValueError(f"paired arms need one value each per cell, got {len(a)} and {len(b)}")
    if len(a) < 2:
        return None
    mean, half = seed_interval([x - y for x, y in zip(a, b)])
    return Difference(mean, mean - half, mean + half, len(a), len(b), paired=True)


@dataclass(frozen=True)
class Verdict:
    """A claim, the test that judged it, the measured difference and the outcome."""
    claim: str
    test: str
    difference: Difference | None
    outcome: Outcome

    def sentence(self) -> str:
        measured = self.difference.describe() if self.difference else "fewer than two seeds in an arm"
        other_way = {Outcome.HELD: "the interval excludes the other outcome",
                     Outcome.FAILED: "the interval excludes the claim",
                     Outcome.REVERSED: "the interval excludes the claim",
                     Outcome.UNDECIDED: "the data could have gone either way"}[self.outcome]
        return f"{self.claim}: {measured}; test: {self.test}: **{self.outcome.value}** ({other_way})."


def helps(claim: str, a: list[float], b: list[float]) -> Verdict:
    """"A helps over B": held if the interval of mean(a) - mean(b) lies above 0, reversed if
    below, cannot tell if it contains 0."""
    difference = welch_difference(a, b)
    if difference is None or difference.low <= 0 <= difference.high:
        outcome = Outcome.UNDECIDED
    else:
        outcome = Outcome.HELD if difference.low > 0 else Outcome.REVERSED
    return Verdict(claim, "A helps over B when the interval of A - B lies above 0", difference, outcome)


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
    return Verdict(claim, f"A matches B when the interval of A - B lies within ±{margin:g} points", difference,
                   outcome)
