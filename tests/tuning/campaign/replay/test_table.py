"""The learning-curve table's loader: a complete table loads, and a table with a missing cell, a
missing epoch or a missing final evaluation is refused naming it."""
import json

import pytest

from tuning.campaign.replay.report import table_replay_lines
from tuning.campaign.replay.table import TableError, load_table
from tuning.run import reports

PARAMS = {"optim.base_lr": [0.1, 1.0], "model.embedding_dim": [32, 128]}


def _epochs(count, diverge_at=None):
    return [{reports.EPOCH: e, reports.RUN_STATE: "diverged" if e == diverge_at else "running",
             reports.FROZEN_RIDGE_SELECT_TOP1: 50.0 + e} for e in range(1, count + 1)]


def _write(folder, rows):
    folder.mkdir(exist_ok=True)
    (folder / "table.json").write_text(json.dumps({
        "scale": {"schedule.epochs": 3}, "final_keys": [reports.LINEAR_PROBE_TEST_TOP1],
        "grids": {"g": {"space": "simclr_fmnist", "overrides": {}, "params": PARAMS}}}))
    (folder / "part.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def _row(lr, dim, epochs=None, final=None, seed=0):
    return {"grid": "g", "cell": {"optim.base_lr": lr, "model.embedding_dim": dim}, "seed": seed,
            "epochs": epochs if epochs is not None else _epochs(3),
            "final": final if final is not None else {reports.LINEAR_PROBE_TEST_TOP1: 70.0 + lr}}


def _complete():
    return [_row(lr, dim) for lr in PARAMS["optim.base_lr"] for dim in PARAMS["model.embedding_dim"]]


def test_a_complete_table_loads_with_every_curve(tmp_path):
    rows = _complete()
    rows[-1] = _row(1.0, 128, epochs=_epochs(2, diverge_at=2), final={})  # a diverged run ends early
    rows.append(_row(0.1, 32, seed=1))
    grid = load_table(_write(tmp_path / "t", rows))["g"]
    assert grid.cells() == [(0.1, 32), (0.1, 128), (1.0, 32), (1.0, 128)]
    assert grid.curve((1.0, 128)).diverged and len(grid.curve((1.0, 128)).epochs) == 2
    assert grid.seeds_of((0.1, 32)) == [0, 1]
    assert grid.final(reports.LINEAR_PROBE_TEST_TOP1)[(1.0, 32)] == 71.0
    assert grid.curve((0.1, 32)).report(3)[reports.LINEAR_PROBE_TEST_TOP1] == 70.1  # the final joins the last epoch
    assert grid.overrides["schedule.epochs"] == 3 and grid.space == "simclr_fmnist"


def test_a_missing_cell_is_refused_naming_it(tmp_path):
    folder = _write(tmp_path / "t", _complete()[:-1])
    with pytest.raises(TableError, match=r"1 of its 4 cells .*'optim.base_lr': 1.0, 'model.embedding_dim': 128"):
        load_table(folder)
    assert len(load_table(folder, complete=False)["g"].curves) == 3  # an analysis may read what is there
    partial = load_table(folder, complete=False)["g"]
    assert partial.absent() == [(1.0, 128)]
    with pytest.raises(TableError, match=r"1 of its 4 cells"):
        partial.check_complete()  # what replaying one grid of a table still being recorded asks of it
    with pytest.raises(TableError, match=r"table grid 'g': 1 of its 4 cells"):
        table_replay_lines(folder, "g", [], 2, [1])


def test_a_missing_epoch_is_refused_naming_the_cell(tmp_path):
    rows = _complete()
    rows[1]["epochs"] = [rows[1]["epochs"][0], rows[1]["epochs"][2]]
    with pytest.raises(TableError, match=r"cell \(0.1, 128\), seed 0: its epochs are \[1, 3\]"):
        load_table(_write(tmp_path / "t", rows))


def test_a_short_curve_that_did_not_diverge_is_refused(tmp_path):
    rows = _complete()
    rows[2]["epochs"] = _epochs(2)
    with pytest.raises(TableError, match=r"cell \(1.0, 32\), seed 0: it has 2 epochs of 3 and did not diverge"):
        load_table(_write(tmp_path / "t", rows))


def test_a_completed_run_without_its_final_evaluation_is_refused(tmp_path):
    rows = _complete()
    rows[0]["final"] = {}
    with pytest.raises(TableError, match=r"final evaluation lacks \['linear_probe_test_top1'\]"):
        load_table(_write(tmp_path / "t", rows))


def test_a_folder_without_a_header_is_refused(tmp_path):
    with pytest.raises(TableError, match="has no table.json"):
        load_table(tmp_path)


def test_a_value_off_the_grid_is_refused_naming_the_allowed_values(tmp_path):
    grid = load_table(_write(tmp_path / "t", _complete()))["g"]
    with pytest.raises(TableError, match=r"optim.base_lr=0.5 is not on the grid \(0.1, 1.0\)"):
        grid.cell_of({"optim.base_lr": 0.5, "model.embedding_dim": 32})
