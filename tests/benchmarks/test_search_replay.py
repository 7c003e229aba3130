"""The search-replay benchmark's report over a small synthetic grid: every strategy and the
defaults sweep reach the tables, the goal line is worded from the numbers, the plot is drawn."""
from dataclasses import asdict

from benchmarks import search_replay
from tests.tuning.campaign.replay.grids import EPOCHS, grid, space
from tuning.campaign.replay.runs import best_cell_test, replay_table
from tuning.campaign.replay.strategies import grid_space, strategies
from tuning.run import reports


def test_the_report_covers_every_strategy_the_sweep_and_the_goal(tmp_path, monkeypatch):
    monkeypatch.setattr(search_replay, "PLOT", tmp_path / "plot.png")
    monkeypatch.setattr(search_replay, "BUDGETS", (2, 4))
    monkeypatch.setattr(search_replay, "SWEEP_ETA", (2.0,))
    table = grid()
    on_grid = grid_space(space(tmp_path), table, {})
    ridge = [s for s in search_replay.sweep(on_grid) if s.metric == reports.FROZEN_RIDGE_SELECT_TOP1]
    searched = [*strategies(on_grid, EPOCHS), *ridge]  # the synthetic curves record the ridge probe only
    runs = {s.name: [[asdict(step) for step in replay_table(table, on_grid, s, seed, 4 * EPOCHS)] for seed in range(3)]
            for s in searched}
    outcome = {"grid-test": {"epochs": EPOCHS, "best_test": best_cell_test(table), "cells": 9, "runs": runs},
               "still-recording": {"recorded": 5, "cells": 9}}
    lines = search_replay.report(outcome)
    text = "\n".join(lines)
    assert (tmp_path / "plot.png").stat().st_size > 0
    for strategy in strategies(on_grid, EPOCHS):
        assert f"| 4 | {strategy.name} |" in text
    assert "Defaults sweep on grid-test" in text and "| TPE + ASHA, grace 2, eta 2, frozen_ridge_select_top1 |" in text
    assert "Goal for the shipped default (TPE + ASHA (shipped: grace 1, eta 2)) on grid-test" in text
    assert "**Grid still-recording**: 5 of its 9 cells recorded so far; replayed once the table holds them all." in text
