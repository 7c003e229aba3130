"""The SimCLR grid's edge: does the optimum lie beyond its top base lr?

On the recorded table the mean test linear probe rises with base lr up to the grid's top value,
5.0, and the shipped spaces stop at the same bound.  The edge part
(``python -m benchmarks.curve_table --part edge``, ``benchmarks/results/curve_table_edge``) trains
every other cell of the grid (4 temperatures x 3 projectors x 3 d) one log step further, at base lr
15.8, at the same scale and seed.  Per base lr: the cells' mean select and test linear probe and
the diverged cells.  Then the edge against the top: the difference of each (temperature,
projector, d) combination's test linear probe at 15.8 and at 5.0, its mean with a 95% paired
bootstrap interval (combinations resampled 2,000 times), and how many combinations gained; and
the best cell on select with and without the edge.  The optimum has moved past the grid when the
paired interval lies above zero and the best cell on select is an edge cell; then the searched
ranges should widen.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuning.campaign.replay.table import Grid, load_table
from tuning.run import reports

TITLE = "The SimCLR grid's edge: base lr one log step past the searched range"
RESULTS = Path(__file__).parent / "results"
LR = "optim.base_lr"
DRAWS = 2000


@dataclass(frozen=True)
class EdgeOutcome:
    """Per base lr, each other-parameter combination's (select, test) final linear probe at seed 0
    (None where the run diverged)."""
    by_lr: dict[float, dict[tuple, tuple[float | None, float | None]]]
    top_lr: float
    edge_lr: float


def outcome_of(grid: Grid, edge: Grid) -> EdgeOutcome:
    """The two grids' seed-0 cells, keyed by base lr and the other parameters' values."""
    by_lr: dict[float, dict[tuple, tuple[float | None, float | None]]] = {}
    for table in (grid, edge):
        position = list(table.params).index(LR)
        for (cell, seed), curve in table.curves.items():
            if seed != 0:
                continue
            rest = cell[:position] + cell[position + 1:]
            by_lr.setdefault(cell[position], {})[rest] = (curve.final.get(reports.LINEAR_PROBE_SELECT_TOP1),
                                                           curve.final.get(reports.LINEAR_PROBE_TEST_TOP1))
    return EdgeOutcome(by_lr, max(grid.params[LR]), max(edge.params[LR]))


def run() -> EdgeOutcome:
    return outcome_of(load_table(RESULTS / "curve_table", complete=False)["simclr"],
                      load_table(RESULTS / "curve_table_edge", complete=False)["simclr"])


def paired_differences(outcome: EdgeOutcome) -> list[float]:
    """Each combination's test linear probe at the edge less at the top (both completed)."""
    top, edge = outcome.by_lr[outcome.top_lr], outcome.by_lr.get(outcome.edge_lr, {})
    return [edge[rest][1] - top[rest][1] for rest in edge
            if rest in top and edge[rest][1] is not None and top[rest][1] is not None]


def mean_interval(values: list[float], draws: int = DRAWS, seed: int = 0) -> tuple[float, float, float]:
    """The mean of ``values`` and its 95% percentile bootstrap interval."""
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=np.float64)
    means = [data[rng.integers(0, len(data), len(data))].mean() for _ in range(draws)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(data.mean()), float(low), float(high)


def best_on_select(cells: dict[float, dict[tuple, tuple[float | None, float | None]]]) -> tuple[float, tuple, float]:
    """(base lr, other values, test linear probe) of the cell best on select (ties: the lower lr first)."""
    scored = [(select, -lr, lr, rest, test) for lr, by_rest in cells.items()
              for rest, (select, test) in by_rest.items() if select is not None]
    _, _, lr, rest, test = max(scored, key=lambda item: item[:2])
    return lr, rest, test


def report(outcome: EdgeOutcome) -> list[str]:
    lines = ["| base lr | cells | diverged | mean select linear probe | mean test linear probe |",
             "|---|---|---|---|---|"]
    for lr in sorted(outcome.by_lr):
        scores = list(outcome.by_lr[lr].values())
        done = [(s, t) for s, t in scores if t is not None]
        lines.append(f"| {lr:g} | {len(scores)} | {len(scores) - len(done)} | "
                     f"{statistics.fmean(s for s, _ in done):.2f} | {statistics.fmean(t for _, t in done):.2f} |")
    differences = paired_differences(outcome)
    lines.append("")
    if not differences:
        return lines + ["The edge part has no completed cell yet."]
    mean, low, high = mean_interval(differences)
    gained = sum(d > 0 for d in differences)
    inside = {lr: cells for lr, cells in outcome.by_lr.items() if lr != outcome.edge_lr}
    best_lr, best_rest, best_test = best_on_select(outcome.by_lr)
    old_lr, _, old_test = best_on_select(inside)
    moved = low > 0 and best_lr == outcome.edge_lr
    lines += [f"Edge less top, test linear probe, paired over {len(differences)} combinations: {mean:+.2f} "
              f"(95% interval {low:+.2f} to {high:+.2f}); {gained} of {len(differences)} gained.",
              f"Best cell on select: base lr {best_lr:g} {best_rest} (test {best_test:.2f}); within the searched "
              f"range: base lr {old_lr:g} (test {old_test:.2f}).",
              "Verdict: " + ("the optimum lies past the searched range; widen it." if moved else
                             "the optimum has not moved past the searched range by this measure" +
                             (" (the paired interval includes zero)." if low <= 0 else
                              " (the mean rises, but the best cell on select is inside).")),
              f"Recorded: {sum(len(c) for c in outcome.by_lr.values())} cells, "
              f"{len(outcome.by_lr.get(outcome.edge_lr, {}))} of them at the edge."]
    return lines
