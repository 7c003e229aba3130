"""Search strategies compared on many replayed seeds: anytime curves of the incumbent, regret,
and the speed-up over random search, each with a 95% bootstrap interval over seeds.

The incumbent after a number of epochs is the trial export would pick among those ended by then
(the completed one with the best select linear probe); curves report its test linear probe.  The
speed-up of a strategy is the epochs random + FIFO needs to reach its own final median incumbent
(the target), divided by the epochs the strategy needs to reach it, each the (lower) median over
seeds of the first epoch count at which a seed's incumbent reaches the target (never: infinite).  Its
interval resamples both strategies' seeds (percentile bootstrap), the target included."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tuning.campaign.replay.engine import Replayed
from tuning.run import reports

BOOTSTRAP_DRAWS = 2000


@dataclass(frozen=True)
class Step:
    """The incumbent once ``epochs`` epochs (``seconds`` of the campaign's clock) were spent."""
    epochs: int
    seconds: float
    select: float
    test: float


def incumbent_steps(replayed: Replayed) -> list[Step]:
    """Each change of the incumbent, in the order trials ended (from the first completed trial on)."""
    steps: list[Step] = []
    for trial in sorted((t for t in replayed.trials if t.status.ended), key=lambda t: t.ended_at_epoch):
        best = replayed.incumbent(by_epoch=trial.ended_at_epoch)
        if best is not None and reports.LINEAR_PROBE_SELECT_TOP1 not in best.last:
            continue  # export's fallback while nothing completed: a stopped trial, no incumbent yet
        if best is not None and (not steps or best.last[reports.LINEAR_PROBE_TEST_TOP1] != steps[-1].test
                                 or best.last[reports.LINEAR_PROBE_SELECT_TOP1] != steps[-1].select):
            steps.append(Step(trial.ended_at_epoch, trial.ended_at_s, best.last[reports.LINEAR_PROBE_SELECT_TOP1],
                              best.last[reports.LINEAR_PROBE_TEST_TOP1]))
    return steps


def value_at(steps: Sequence[Step], epochs: int, field: str = "test") -> float:
    """The incumbent's ``field`` once ``epochs`` were spent (NaN before the first completed trial)."""
    reached = [s for s in steps if s.epochs <= epochs]
    return getattr(reached[-1], field) if reached else math.nan


def epochs_to(steps: Sequence[Step], target: float) -> float:
    """The first epoch count at which the incumbent's test score reached ``target`` (inf: never)."""
    return next((float(s.epochs) for s in steps if s.test >= target), math.inf)


def median(values: Sequence[float]) -> float:
    """The lower median (of an even count, the smaller middle value), infinities (never reached)
    counting as the largest values: at least half the seeds then reach the reference's own target."""
    return float(np.quantile(np.asarray(values, dtype=np.float64), 0.5, method="lower"))


def speedup(reference: Sequence[Sequence[Step]], runs: Sequence[Sequence[Step]], budget: int) -> float:
    """Epochs the reference needs to reach its own final median incumbent, over those ``runs`` need."""
    target = median([value_at(steps, budget) for steps in reference])
    needed = median([epochs_to(steps, target) for steps in runs])
    return median([epochs_to(steps, target) for steps in reference]) / needed if needed > 0 else math.nan


def bootstrap(statistic: Callable[..., float], samples: Sequence[Sequence], draws: int = BOOTSTRAP_DRAWS,
              seed: int = 0) -> tuple[float, float]:
    """The 95% percentile interval of ``statistic(*resampled)``, each sample resampled with replacement
    on its own, ``draws`` times (NaN statistics are dropped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        resampled = [[sample[i] for i in rng.integers(0, len(sample), len(sample))] for sample in samples]
        values.append(statistic(*resampled))
    finite = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64)))


@dataclass(frozen=True)
class Comparison:
    """One strategy against the reference at one budget (epochs): its mean incumbent (test) and
    mean regret, and its speed-up, each with a 95% bootstrap interval over seeds."""
    strategy: str
    budget: int
    seeds: int
    incumbent: float
    incumbent_interval: tuple[float, float]
    regret: float
    regret_interval: tuple[float, float]
    speedup: float
    speedup_interval: tuple[float, float]


def compare(name: str, reference: Sequence[Sequence[Step]], runs: Sequence[Sequence[Step]], budget: int,
            best_test: float) -> Comparison:
    """``runs`` (one incumbent history a seed) against ``reference`` at ``budget`` epochs;
    regret is ``best_test`` (the test score of the grid's best cell on select) less the incumbent's."""
    finals = [value_at(steps, budget) for steps in runs]
    regrets = [best_test - value for value in finals]
    return Comparison(name, budget, len(runs), mean(finals), bootstrap(mean, [finals]), mean(regrets),
                      bootstrap(mean, [regrets]), speedup(reference, runs, budget),
                      bootstrap(lambda ref, own: speedup(ref, own, budget), [reference, runs]))
