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
    assert "| grace 2, eta 2, frozen_ridge_select_top1 | " in text  # a sweep row, with its speed-up on the grid
    chosen = next(line for line in lines if line.startswith("Chosen: "))
    assert chosen.removeprefix("Chosen: ").rstrip(".") in {s.name for s in ridge}
    assert "Goal for the shipped default (TPE + ASHA (shipped: grace 1, eta 2)) on grid-test" in text
    assert "**Grid still-recording**: 5 of its 9 cells recorded so far; replayed once the table holds them all." in text


def test_a_strategy_is_replayed_again_only_when_what_it_read_changed(tmp_path):
    table = grid()
    on_grid = grid_space(space(tmp_path), table, {})
    searched = strategies(on_grid, EPOCHS)
    keys = search_replay.fingerprints(table, on_grid, searched)
    assert keys == search_replay.fingerprints(grid(), on_grid, searched)  # the same curves and space: kept
    other_scheduler = on_grid.model_copy(update={"scheduler": on_grid.scheduler.model_copy(update={"grace_period": 2})})
    changed = search_replay.fingerprints(table, other_scheduler, searched)
    shipped = next(s.name for s in searched if "shipped" in s.name)
    assert changed[shipped] == keys[shipped]  # the strategy's name still says the old scheduler: ...
    renamed = strategies(other_scheduler, EPOCHS)
    again = search_replay.fingerprints(table, other_scheduler, renamed)
    new_shipped = next(s.name for s in renamed if "shipped" in s.name)
    assert new_shipped not in keys  # ... the space's own scheduler makes a new shipped strategy, replayed afresh
    assert again["random + FIFO"] == keys["random + FIFO"]  # the others keep their histories
    cell = table.cells()[0]
    edited = dict(table.curves)
    edited[(cell, 0)] = type(edited[(cell, 0)])(edited[(cell, 0)].epochs, {**edited[(cell, 0)].final,
                                                                           reports.LINEAR_PROBE_TEST_TOP1: 1.0})
    recorded_again = type(table)(table.name, table.params, table.epochs, edited)
    assert search_replay.fingerprints(recorded_again, on_grid, searched)["random + FIFO"] != keys["random + FIFO"]


def _history(*steps: tuple[int, float, float]) -> list[dict]:
    return [{"epochs": epochs, "seconds": float(epochs), "select": select, "test": test}
            for epochs, select, test in steps]


def test_the_defaults_sweep_chooses_on_select_and_never_on_test():
    # A's incumbents score well on test early but reach random + FIFO's final select score late;
    # B's do the opposite.  The sweep is a choice, so B must win although A's test curve is better.
    reference = _history((1, 70.0, 70.0), (30, 82.0, 82.0))
    fast_on_test = _history((1, 81.0, 83.0), (25, 82.0, 83.0))
    fast_on_select = _history((1, 82.0, 81.0), (31, 82.5, 82.0))
    runs = {search_replay.REFERENCE: [reference] * 3, f"{search_replay.SWEEP_PREFIX}A": [fast_on_test] * 3,
            f"{search_replay.SWEEP_PREFIX}B": [fast_on_select] * 3}
    lines, chosen = search_replay.sweep_lines({"grid": {"epochs": 1, "best_test": 83.0, "runs": runs}})
    assert chosen == f"{search_replay.SWEEP_PREFIX}B"
    row_b = next(line for line in lines if line.startswith("| 1 | B |"))
    assert "| 30.00x (30.00 to 30.00) | 0.97x (0.97 to 0.97), regret 1.00 |" in row_b  # select ranks, test reported
