"""Search strategies compared by replay over the recorded SSL learning-curve table.

Every strategy (tuning.campaign.replay.strategies: random + FIFO, random + ASHA, TPE + FIFO,
TPE with the shipped space's scheduler, Hyperband, one-epoch top-k, GP + FIFO) runs 30 seeds over
each grid of ``benchmarks/results/curve_table`` (``python -m benchmarks.curve_table``), two trials
at a time as the shipped spaces run them, through the real Tune schedulers and the campaign's
Optuna searcher (replay's equivalence with a live campaign is tested in
tests/tuning/campaign/replay/test_equivalence.py).  Each seed runs to the largest budget (32
full-trial equivalents, 256 epochs); the smaller budgets read its anytime curve.  The incumbent
is the trial export would pick (best select linear probe among the completed); reported are its
test linear probe, its regret against the grid's best cell on select, and the speed-up over
random + FIFO (compare.py), each with a 95% bootstrap interval over seeds.  A defaults sweep
(TPE + ASHA at grace 1 and 2, reduction factor 2, 3 and 4, and each rung-metric candidate; then
TPE with 5, 10 or 20 random start-up trials and a joint or independent model) ranks the settings
the shipped spaces take, on the incumbents' select scores (a choice reads select; test reports).  Goal: the shipped
default reaches random + FIFO's final median incumbent in at least 3x fewer epochs (the
interval's lower end at least 1.5x), and is no worse at any budget.  The per-seed histories are
kept in ``benchmarks/results/search_replay.json``, each strategy's under a fingerprint of what
its replay read (the grid's curves, the space as it searches it, the seeds and budgets, the
replay code), so a rerun replays only the strategies whose fingerprint changed; the plot is
``benchmarks/search_replay.png``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

import tuning.campaign.replay as replay_package
import tuning.campaign.search.searcher as search_module
import tuning.campaign.space as space_module
from benchmarks import search_efficiency as live
from benchmarks.goals import verdict
from benchmarks.metric_signal import CANDIDATES
from tuning.campaign.replay.compare import Comparison, Step, bootstrap, compare, mean, value_at
from tuning.campaign.replay.runs import best_cell_test, replay_seeds, table_space
from tuning.campaign.replay.strategies import Strategy, strategies
from tuning.campaign.replay.table import Grid, load_table
from tuning.campaign.space import SchedulerSpec, SearchSpace, TPEOptions
from tuning.reproduction.verdicts import paired_difference

TITLE = "Search strategies replayed over the recorded SSL learning-curve table (30 seeds each)"
TABLE = Path(__file__).parent / "results" / "curve_table"
RAW = Path(__file__).parent / "results" / "search_replay.json"
PLOT = Path(__file__).with_name("search_replay.png")
SEEDS, BUDGETS = 30, (8, 16, 32)
GOAL_SPEEDUP, GOAL_LOW = 3.0, 1.5
REFERENCE, SWEEP_PREFIX = "random + FIFO", "TPE + ASHA, "
SWEEP_GRACE, SWEEP_ETA, SWEEP_STARTUP = (1, 2), (2.0, 3.0, 4.0), (5, 10, 20)
"""The defaults sweep: TPE + ASHA at every grace period, reduction factor and rung metric (the
candidates of benchmarks/metric_signal.py), and TPE's start-up trials and joint or independent
model, 30 seeds each, ranked across the grids as ``sweep_lines`` says; the shipped spaces take row 1."""


def sweep(space: SearchSpace) -> list[Strategy]:
    """TPE + ASHA at every grace period, reduction factor and rung-metric candidate, then TPE's
    options (start-up trials, joint or independent model) at the space's own scheduler and metric."""
    schedulers = [Strategy(f"{SWEEP_PREFIX}grace {grace}, eta {eta:g}, {candidate.key}", "tpe",
                           SchedulerSpec(type="asha", grace_period=grace, reduction_factor=eta), candidate.key)
                  for grace, eta, candidate in itertools.product(SWEEP_GRACE, SWEEP_ETA, CANDIDATES)]
    own = space.scheduler
    options = [Strategy(f"{SWEEP_PREFIX}grace {own.grace_period}, eta {own.reduction_factor:g}, {space.metric}, "
                        f"{startup} start-up trials, {'joint' if joint else 'independent'} model", "tpe", own,
                        space.metric, TPEOptions(n_startup_trials=startup, multivariate=joint))
               for startup, joint in itertools.product(SWEEP_STARTUP, (True, False))]
    return schedulers + options


def fingerprints(grid: Grid, space: SearchSpace, searched: list[Strategy]) -> dict[str, str]:
    """What each strategy's replay over ``grid`` depends on: the grid's seed-0 curves, the space as
    the strategy searches it, the seeds and budgets, and the replay code (tuning/campaign/replay/,
    the space's schema and the Optuna searcher)."""
    digest = hashlib.sha256(repr((SEEDS, BUDGETS)).encode())
    for cell in grid.cells():
        curve = grid.curve(cell)
        digest.update(json.dumps([list(cell), curve.epochs, curve.final], sort_keys=True, default=str).encode())
    for source in [*sorted(Path(replay_package.__file__).parent.glob("*.py")), Path(space_module.__file__),
                   Path(search_module.__file__)]:
        digest.update(source.read_bytes())
    shared = digest.hexdigest()
    return {strategy.name: hashlib.sha256(f"{shared}{strategy.on(space)!r}".encode()).hexdigest()
            for strategy in searched}


def run() -> dict:
    """Every strategy over each grid recorded in full; a grid still being recorded is named, not
    replayed, and a strategy whose fingerprint matches the kept results is not replayed again."""
    kept = json.loads(RAW.read_text()) if RAW.is_file() else {}
    outcome = {}
    for name, grid in load_table(TABLE, complete=False).items():
        if grid.absent():
            outcome[name] = {"recorded": len(grid.cells()) - len(grid.absent()), "cells": len(grid.cells())}
            continue
        space = table_space(grid)
        searched = [*strategies(space, grid.epochs), *sweep(space)]
        keys = fingerprints(grid, space, searched)
        old = kept.get(name, {})
        same = [s.name for s in searched if old.get("fingerprints", {}).get(s.name) == keys[s.name]]
        runs = {strategy: old["runs"][strategy] for strategy in same}
        fresh = replay_seeds(grid, space, [s for s in searched if s.name not in runs], SEEDS,
                             max(BUDGETS) * grid.epochs, workers=os.cpu_count() or 1)
        runs |= {strategy: [[asdict(step) for step in seed] for seed in seeds] for strategy, seeds in fresh.items()}
        outcome[name] = {"fingerprints": keys, "epochs": grid.epochs, "best_test": best_cell_test(grid),
                         "cells": len(grid.cells()), "runs": {s.name: runs[s.name] for s in searched}}
        RAW.write_text(json.dumps({**kept, **outcome}))  # a grid at a time: a stopped run keeps finished grids
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
            if strategy.startswith(SWEEP_PREFIX):
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


def no_worse_everywhere(runs: dict, strategy: str, grid: dict) -> bool:
    """The goal's second half: at every budget the strategy's incumbent interval reaches random +
    FIFO's mean (on whichever score the histories carry as ``test``)."""
    reference = runs[REFERENCE]
    for budget in BUDGETS:
        epochs = budget * grid["epochs"]
        finals = [value_at(steps, epochs) for steps in runs[strategy]]
        if bootstrap(mean, [finals])[1] < mean([value_at(steps, epochs) for steps in reference]):
            return False
    return True


def _speedup(c: Comparison) -> str:
    return f"{c.speedup:.2f}x ({c.speedup_interval[0]:.2f} to {c.speedup_interval[1]:.2f})"


def on_select(histories: list[list[Step]]) -> list[list[Step]]:
    """The same incumbent histories scored by their select linear probe instead of test: what the
    defaults sweep ranks on, so that choosing a default reads select only."""
    return [[replace(step, test=step.select) for step in seed] for seed in histories]


def sweep_lines(replayed: dict[str, dict]) -> tuple[list[str], str]:
    """The defaults sweep on every replayed grid at the largest budget, and the row the shipped
    spaces take: among the settings no worse than random + FIFO at any budget on every grid, the
    best geometric mean of the grids' speed-ups, every one of these read on the incumbents' select
    scores (a default is a choice; a default serves both methods).  Each cell also shows the
    speed-up and regret on test, for the report."""
    rows = []
    settings = [s for s in next(iter(replayed.values()))["runs"] if s.startswith(SWEEP_PREFIX)]
    for setting in settings:
        cells, speedups, eligible = [], [], True
        for grid in replayed.values():
            runs = {strategy: _steps(raw) for strategy, raw in grid["runs"].items()
                    if strategy in (REFERENCE, setting)}
            chosen_on = {strategy: on_select(histories) for strategy, histories in runs.items()}
            budget = max(BUDGETS) * grid["epochs"]
            ranked = compare(setting, chosen_on[REFERENCE], chosen_on[setting], budget, grid["best_test"])
            reported = compare(setting, runs[REFERENCE], runs[setting], budget, grid["best_test"])
            cells.append(f"{_speedup(ranked)} | {_speedup(reported)}, regret {reported.regret:.2f}")
            speedups.append(ranked.speedup)
            eligible = eligible and no_worse_everywhere(chosen_on, setting, grid)
        rows.append((eligible, float(np.exp(np.mean(np.log(np.maximum(speedups, 1e-9))))), setting, cells))
    rows.sort(key=lambda row: (not row[0], -row[1]))
    names = list(replayed)
    columns = " | ".join(f"{name}: on select | {name}: on test" for name in names)
    lines = [f"Defaults sweep (TPE + ASHA; speed-up over random + FIFO at {max(BUDGETS)} full trials with the "
             "incumbents scored on select, which ranks the rows, and on test with the regret, which reports them; "
             "ranked first by being no worse than random + FIFO at every budget on every grid, then by the "
             "geometric mean of the select speed-ups; the shipped spaces take row 1):", "",
             f"| row | setting | {columns} | no worse at every budget (select) | geometric mean speed-up (select) |",
             "|---|---|" + "---|---|" * len(names) + "---|---|"]
    lines += [f"| {i} | {setting.removeprefix(SWEEP_PREFIX)} | {' | '.join(cells)} | {'yes' if eligible else 'no'} "
              f"| {gmean:.2f}x |" for i, (eligible, gmean, setting, cells) in enumerate(rows, 1)]
    return lines + [""], rows[0][2]


def live_check(grid: dict, runs: dict, shipped: str) -> list[str]:
    """The live campaigns of benchmarks/search_efficiency.py (TPE + ASHA against random + FIFO on
    the same SimCLR space, at another Fashion-MNIST scale) beside the replay at their budget in
    full trials: does the replay's paired difference fall inside the live one's interval?"""
    if not live.RAW.is_file():
        return []
    recorded = json.loads(live.RAW.read_text())
    trials = recorded["budget"] // live.EPOCHS
    finals = {arm: [seed[arm]["curve"][-1][1] for seed in recorded["seeds"].values()] for arm in live.ARMS}
    measured = paired_difference(finals["TPE + ASHA"], finals["random + FIFO"])
    budget = trials * grid["epochs"]
    pairs = [(value_at(a, budget), value_at(b, budget)) for a, b in zip(runs[shipped], runs[REFERENCE])]
    pairs = [(a, b) for a, b in pairs if not (np.isnan(a) or np.isnan(b))]
    replayed = paired_difference([a for a, _ in pairs], [b for _, b in pairs])
    inside = measured.low <= replayed.mean <= measured.high
    return [f"Live check: the {len(finals['TPE + ASHA'])} live campaigns (`python -m benchmarks search_efficiency`, "
            f"{trials} full trials of {live.EPOCHS} epochs on a {live.TRAIN_SUBSET:,}-image subset) measured TPE + "
            f"ASHA against random + FIFO at {measured.describe()}; the replay at {trials} full trials measures "
            f"{replayed.describe()}. The replay's mean lies {'inside' if inside else 'outside'} the live interval: "
            f"{'they agree, as far as 3 seeds can tell' if inside else 'they disagree'}.", ""]


def report(outcome: dict) -> list[str]:
    plot(outcome)
    spaces = {name: grid.space for name, grid in load_table(TABLE, complete=False).items()}
    lines = []
    replayed = {name: grid for name, grid in outcome.items() if "runs" in grid}
    if replayed:
        sweep_table, chosen = sweep_lines(replayed)
        lines += sweep_table + [f"Chosen: {chosen}.", ""]
    for name, grid in outcome.items():
        if "runs" not in grid:
            lines += [f"**Grid {name}**: {grid['recorded']} of its {grid['cells']} cells recorded so far; replayed "
                      "once the table holds them all.", ""]
            continue
        runs = {strategy: _steps(raw) for strategy, raw in grid["runs"].items()
                if not strategy.startswith(SWEEP_PREFIX)}
        shipped = next(s for s in runs if "shipped" in s)
        lines += [f"**Grid {name}** ({grid['cells']} cells x {grid['epochs']} epochs; the best cell on select scores "
                  f"{grid['best_test']:.2f} on test):", "",
                  "| budget (full trials) | strategy | incumbent, test (95% interval) | regret (95% interval) "
                  "| speed-up over random + FIFO (95% interval) |", "|---|---|---|---|---|"]
        for budget in BUDGETS:
            for strategy, steps in runs.items():
                c = compare(strategy, runs[REFERENCE], steps, budget * grid["epochs"], grid["best_test"])
                lines.append(f"| {budget} | {strategy} | {c.incumbent:.2f} ({c.incumbent_interval[0]:.2f} to "
                             f"{c.incumbent_interval[1]:.2f}) | {c.regret:.2f} ({c.regret_interval[0]:.2f} to "
                             f"{c.regret_interval[1]:.2f}) | {_speedup(c)} |")
                if (budget, strategy) == (max(BUDGETS), shipped):
                    largest = c
        met = (largest.speedup >= GOAL_SPEEDUP and largest.speedup_interval[0] >= GOAL_LOW
               and no_worse_everywhere(runs, shipped, grid))
        lines += ["", f"Goal for the shipped default ({shipped}) on {name}: speed-up >= {GOAL_SPEEDUP:g}x with the "
                  f"interval from {GOAL_LOW:g}x, no worse than random + FIFO at any budget: "
                  f"{verdict(met)} ({largest.speedup:.2f}x, {largest.speedup_interval[0]:.2f} to "
                  f"{largest.speedup_interval[1]:.2f}).", ""]
        if spaces.get(name) == live.SPACE:
            lines += live_check(grid, runs, shipped)
    lines.append(f"![incumbent against epochs spent]({PLOT.name})")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
