"""Search strategies compared by replay over the recorded SSL learning-curve table.

Every strategy (tuning.campaign.replay.strategies: random + FIFO, random + ASHA, TPE + FIFO,
TPE with the shipped space's scheduler, Hyperband, one-epoch top-k, GP + ASHA) runs 30 seeds over
each grid of ``benchmarks/results/curve_table`` (``python -m benchmarks.curve_table``), two trials
at a time as the shipped spaces run them, through the real Tune schedulers and the campaign's
Optuna searcher (replay's equivalence with a live campaign is tested in
tests/tuning/campaign/replay/test_equivalence.py).  Each seed runs to the largest budget (32
full-trial equivalents, 256 epochs); the smaller budgets read its anytime curve.  The incumbent
is the trial export would pick (best select linear probe among the completed); reported are its
test linear probe, its regret against the grid's best cell on select, and the speed-up over
random + FIFO (compare.py), each with a 95% bootstrap interval over seeds.  A defaults sweep
(TPE + ASHA at grace 1 and 2, reduction factor 2, 3 and 4, and each rung-metric candidate) ranks
the settings the shipped spaces take.  Goal: the shipped
default reaches random + FIFO's final median incumbent in at least 3x fewer epochs (the
interval's lower end at least 1.5x), and is no worse at any budget.  The per-seed histories are
kept in ``benchmarks/results/search_replay.json``; the plot is ``benchmarks/search_replay.png``.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks.goals import verdict
from benchmarks.metric_signal import CANDIDATES
from tuning.campaign.replay.compare import Step, compare, value_at
from tuning.campaign.replay.runs import best_cell_test, replay_seeds, table_space
from tuning.campaign.replay.strategies import Strategy, strategies
from tuning.campaign.replay.table import load_table
from tuning.campaign.space import SchedulerSpec

TITLE = "Search strategies replayed over the recorded SSL learning-curve table (30 seeds each)"
TABLE = Path(__file__).parent / "results" / "curve_table"
RAW = Path(__file__).parent / "results" / "search_replay.json"
PLOT = Path(__file__).with_name("search_replay.png")
SEEDS, BUDGETS = 30, (8, 16, 32)
GOAL_SPEEDUP, GOAL_LOW = 3.0, 1.5
SWEEP_GRACE, SWEEP_ETA = (1, 2), (2.0, 3.0, 4.0)
"""The defaults sweep: TPE + ASHA at every grace period, reduction factor and rung metric (the
candidates of benchmarks/metric_signal.py), 30 seeds each, ranked by speed-up at the largest
budget; the shipped spaces take the best row."""


def sweep(space) -> list[Strategy]:
    """TPE + ASHA at every grace period, reduction factor and rung-metric candidate."""
    return [Strategy(f"TPE + ASHA, grace {grace}, eta {eta:g}, {candidate.key}", "tpe",
                     SchedulerSpec(type="asha", grace_period=grace, reduction_factor=eta), candidate.key)
            for grace, eta, candidate in itertools.product(SWEEP_GRACE, SWEEP_ETA, CANDIDATES)]


def run() -> dict:
    """Every strategy over each grid recorded in full; a grid still being recorded is named, not replayed."""
    grids = load_table(TABLE, complete=False)
    outcome = {}
    for name, grid in grids.items():
        if grid.absent():
            outcome[name] = {"recorded": len(grid.cells()) - len(grid.absent()), "cells": len(grid.cells())}
            continue
        space = table_space(grid)
        most = max(BUDGETS) * grid.epochs
        searched = [*strategies(space, grid.epochs), *sweep(space)]
        runs = replay_seeds(grid, space, searched, SEEDS, most, workers=os.cpu_count() or 1)
        outcome[name] = {"epochs": grid.epochs, "best_test": best_cell_test(grid), "cells": len(grid.cells()),
                         "runs": {strategy: [[asdict(step) for step in seed] for seed in seeds]
                                  for strategy, seeds in runs.items()}}
        RAW.write_text(json.dumps(outcome))  # a grid at a time: an interrupted run keeps the grids it finished
    return outcome


def _steps(raw: list[list[dict]]) -> list[list[Step]]:
    return [[Step(**step) for step in seed] for seed in raw]


def plot(outcome: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    replayed = {name: grid for name, grid in outcome.items() if "runs" in grid}
    figure, axes = plt.subplots(1, len(replayed), figsize=(6 * len(replayed), 4.5), squeeze=False)
    for axis, (name, grid) in zip(axes[0], replayed.items()):
        xs = np.arange(1, max(BUDGETS) * grid["epochs"] + 1)
        for strategy, raw in grid["runs"].items():
            if strategy.startswith("TPE + ASHA, grace"):
                continue  # the defaults sweep has its own table
            curves = np.asarray([[value_at(steps, x) for x in xs] for steps in _steps(raw)], dtype=np.float64)
            middle = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, [25, 75], axis=0)
            axis.plot(xs / grid["epochs"], middle, label=strategy)
            axis.fill_between(xs / grid["epochs"], low, high, alpha=0.15)
        axis.axhline(grid["best_test"], color="black", linestyle=":", label="best cell on select")
        axis.set(title=f"{name}: incumbent's test linear probe (median, 25-75% of seeds)",
                 xlabel="epochs spent / epochs of one trial", ylabel="top-1 (%)")
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(PLOT, dpi=110)
    plt.close(figure)


def sweep_lines(name: str, grid: dict, runs: dict) -> list[str]:
    """The defaults sweep at the largest budget, best speed-up first."""
    reference = next(iter(runs))
    budget = max(BUDGETS) * grid["epochs"]
    rows = sorted((compare(s, runs[reference], steps, budget, grid["best_test"]) for s, steps in runs.items()
                   if s.startswith("TPE + ASHA, grace")), key=lambda c: -c.speedup)
    lines = [f"Defaults sweep on {name} (TPE + ASHA; {max(BUDGETS)} full trials; best first):", "",
             "| setting | speed-up (95% interval) | incumbent, test | regret |", "|---|---|---|---|"]
    lines += [f"| {c.strategy} | {c.speedup:.2f}x ({c.speedup_interval[0]:.2f} to {c.speedup_interval[1]:.2f}) "
              f"| {c.incumbent:.2f} | {c.regret:.2f} |" for c in rows]
    return lines + [""]


def report(outcome: dict) -> list[str]:
    plot(outcome)
    lines = []
    for name, grid in outcome.items():
        if "runs" not in grid:
            lines += [f"**Grid {name}**: {grid['recorded']} of its {grid['cells']} cells recorded so far; replayed "
                      "once the table holds them all.", ""]
            continue
        runs = {strategy: _steps(raw) for strategy, raw in grid["runs"].items()}
        lines += sweep_lines(name, grid, runs)
        runs = {strategy: steps for strategy, steps in runs.items() if not strategy.startswith("TPE + ASHA, grace")}
        reference, *_ = runs
        shipped = next(s for s in runs if "shipped" in s)
        lines += [f"**Grid {name}** ({grid['cells']} cells x {grid['epochs']} epochs; the best cell on select scores "
                  f"{grid['best_test']:.2f} on test):", "",
                  "| budget (full trials) | strategy | incumbent, test (95% interval) | regret (95% interval) "
                  "| speed-up over random + FIFO (95% interval) |", "|---|---|---|---|---|"]
        verdicts = []
        for budget in BUDGETS:
            for strategy, steps in runs.items():
                c = compare(strategy, runs[reference], steps, budget * grid["epochs"], grid["best_test"])
                lines.append(f"| {budget} | {strategy} | {c.incumbent:.2f} ({c.incumbent_interval[0]:.2f} to "
                             f"{c.incumbent_interval[1]:.2f}) | {c.regret:.2f} ({c.regret_interval[0]:.2f} to "
                             f"{c.regret_interval[1]:.2f}) | {c.speedup:.2f}x ({c.speedup_interval[0]:.2f} to "
                             f"{c.speedup_interval[1]:.2f}) |")
                if strategy == shipped:
                    baseline = compare(reference, runs[reference], runs[reference], budget * grid["epochs"],
                                       grid["best_test"])
                    verdicts.append((budget, c, c.incumbent_interval[1] >= baseline.incumbent))
        largest = verdicts[-1][1]
        met = (largest.speedup >= GOAL_SPEEDUP and largest.speedup_interval[0] >= GOAL_LOW
               and all(no_worse for _, _, no_worse in verdicts))
        lines += ["", f"Goal for the shipped default ({shipped}) on {name}: speed-up >= {GOAL_SPEEDUP:g}x with the "
                  f"interval from {GOAL_LOW:g}x, no worse than random + FIFO at any budget: "
                  f"{verdict(met)} ({largest.speedup:.2f}x, {largest.speedup_interval[0]:.2f} to "
                  f"{largest.speedup_interval[1]:.2f}).", ""]
    lines.append(f"![incumbent against epochs spent]({PLOT.name})")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
