"""Record the SSL learning-curve table: every cell of a discretised search space trained once to
the end, every rung-metric candidate on select and the epoch's wall time recorded per epoch, the
select and test linear probe and k-NN at the end.

The table is what replay (tuning.campaign.replay) plays back: training is deterministic per seed
on the CPU, so a recorded cell is what a live trial of that cell reports.  It is recorded in named
parts (``python -m benchmarks.curve_table --part simclr-1``), each a slice of the cells that fits a
sitting; a part appends one JSON line per finished run to
``benchmarks/results/curve_table/PART.jsonl`` and skips the runs already there, so an interrupted
part resumes where it stopped.  The grids, the scale and the parts are written to
``benchmarks/results/curve_table/table.json`` (the table's header) by the first part to run.

Scale: Fashion-MNIST at 28 px, a class-balanced 9,000-image subset of the train split of which
300 images a class (3,000) are held out as select, leaving 6,000 to fit; 8 epochs (rungs 1, 2, 4, 8
at reduction factor 2); the official 10,000-image test split; the probes see the whole image
(``data.center_crop_ratio: 1.0``).  Select is sized so that one trial's select score is about as
noisy as two seeds of one cell differ: at 85% top-1 the binomial standard error over 3,000 images
is 0.65 points (1,000 images: 1.1), while the cells of a grid span 6-7 points and neighbouring
good cells about one.  One run costs about 1.5 core-minutes.

Two more tables sit beside the proxy's, each a folder of its own with its own header:
- ``curve_table_edge``: the SimCLR grid one log step past its top base lr (15.8), 36 cells;
- ``curve_table_full``: cells of both grids at the ``fmnist-full`` scale (55,000 images to fit,
  12 epochs), about 20 core-minutes a run.  Its cells are chosen from the proxy's select scores
  alone (``full_scale_cells``), before any full-scale number exists, and its header lists them.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from pathlib import Path

from benchmarks.local_runs import preset_config, pretrain_locally
from tuning.run import reports

RESULTS = Path(__file__).parent / "results"
FOLDER = RESULTS / "curve_table"
EDGE_FOLDER = RESULTS / "curve_table_edge"
FULL_FOLDER = RESULTS / "curve_table_full"
HEADER = FOLDER / "table.json"
DATA_DIR = Path(tempfile.gettempdir()) / "dualtune-curve-table-data"

BASE = "fmnist-simclr"
SCALE = {"data.train_subset": 9000, "data.select_per_class": 300, "data.center_crop_ratio": 1.0,
         "schedule.epochs": 8, "probe.rung_bank_images": 3000, "resources.workers": 1,
         "resources.torch_threads": 1}


def log_grid(low: float, high: float, points: int) -> list[float]:
    """``points`` values evenly spaced on the log scale from ``low`` to ``high`` (3 significant digits)."""
    return [float(f"{low * (high / low) ** (i / (points - 1)):.3g}") for i in range(points)]


GRIDS = {
    # the simclr_fmnist space's four parameters on its own scales: 4 x 5 x 3 x 3 = 180 cells
    "simclr": {"space": "simclr_fmnist", "overrides": {},
               "params": {"loss.params.temperature": log_grid(0.05, 1.0, 4),
                          "optim.base_lr": log_grid(0.05, 5.0, 5),
                          "model.projector": ["512-d", "512-512-d", "2048-2048-d"],
                          "model.embedding_dim": [32, 128, 512]}},
    # the vicreg_fmnist space's lr, invariance weight and d on its own scales (variance 25 and covariance 2,
    # Table S6's weights, and the 512-512-d projector fixed): 4 x 4 x 3 = 48 cells
    "vicreg": {"space": "vicreg_fmnist",
               "overrides": {"loss.method": "vicreg", "loss.params": {"var_weight": 25.0, "cov_weight": 2.0},
                             "model.projector": "512-512-d"},
               "params": {"optim.base_lr": log_grid(0.1, 3.0, 4),
                          "loss.params.sim_weight": log_grid(5.0, 50.0, 4),
                          "model.embedding_dim": [32, 128, 512]}},
}

FULL_SCALE = {"data.train_subset": None, "data.select_per_class": 500, "data.center_crop_ratio": 1.0,
              "schedule.epochs": 12, "probe.rung_bank_images": 3000, "probe.supervised_baseline": False,
              "resources.workers": 1, "resources.torch_threads": 1}
"""The ``fmnist-full`` preset's data and schedule (60,000 train images less 500 a class for select)."""

EDGE_LR = 15.8
"""One log step past the SimCLR grid's top base lr (the grid's step is a factor of 10 ** 0.5)."""

EPOCH_KEYS = (reports.EPOCH, reports.RUN_STATE, reports.LOSS, "epoch_time_s", "select_time_s", "rung_probes_time_s",
              reports.ONLINE_TOP1, reports.online_top(1, "online_bn"), reports.online_top(1, split="train"),
              reports.FROZEN_KNN_SELECT_TOP1, reports.FROZEN_RIDGE_SELECT_TOP1, reports.FROZEN_RANKME, "rankme",
              "embedding_std")
FINAL_KEYS = (reports.LINEAR_PROBE_SELECT_TOP1, reports.LINEAR_PROBE_TEST_TOP1, reports.KNN_SELECT_TOP1,
              reports.KNN_TEST_TOP1, "linear_probe_lr", "eval_time_s")

SEED_CELLS = 24
"""Cells of the SimCLR grid that get seeds 1 and 2 too (every 7th cell: all four parameters vary)."""

TOP_SEED_CELLS = {"simclr": 20, "vicreg": 16}
"""Per grid, the cells best on select at seed 0 that get seeds 1 and 2 (where the target is decided)."""

FULL_CELLS = {"simclr": (8, 15), "vicreg": (3, 4)}
"""Per grid, (the proxy's top cells on select, a stratified spread over the rest) at full scale; the
cell nearest the paper's recipe (``PAPER_RECIPE``) comes on top of these."""

PAPER_RECIPE = {"simclr": {"loss.params.temperature": 0.15, "optim.base_lr": 0.5, "model.projector": "2048-2048-d",
                           "model.embedding_dim": 512},
                "vicreg": {"optim.base_lr": 0.3, "loss.params.sim_weight": 25.0, "model.embedding_dim": 512}}
"""The paper's recipe (temperature 0.15, base lr 0.5; VICReg at lr 0.3, invariance 25) on each grid's
widest projector; ``nearest_cell`` finds its grid cell on a log scale."""


def cells(grid: str, params: dict | None = None) -> list[dict]:
    """Every cell of ``grid`` in a fixed order (the last parameter varies fastest)."""
    params = params or GRIDS[grid]["params"]
    return [dict(zip(params, values)) for values in itertools.product(*params.values())]


def edge_params() -> dict:
    """The SimCLR grid's parameters with base lr at ``EDGE_LR`` alone."""
    return {**GRIDS["simclr"]["params"], "optim.base_lr": [EDGE_LR]}


def _key(value) -> float:
    return math.log(value) if isinstance(value, (int, float)) and value > 0 else 0.0


def nearest_cell(grid: str, recipe: dict) -> dict:
    """The cell of ``grid`` nearest ``recipe``: numbers compared on the log scale, other values exactly."""
    def distance(cell: dict) -> tuple[int, float]:
        exact = sum(cell[k] != v for k, v in recipe.items() if not isinstance(v, (int, float)))
        return exact, sum(abs(_key(cell[k]) - _key(v)) for k, v in recipe.items() if isinstance(v, (int, float)))
    return min(cells(grid), key=distance)


def proxy_select_ranking(grid: str) -> list[dict]:
    """``grid``'s cells, best first, by the proxy's final select linear probe at seed 0 (ties broken
    by grid order, as export breaks them; diverged cells last)."""
    from tuning.campaign.replay.table import load_table

    table = load_table(FOLDER)[grid]
    score = table.final(reports.LINEAR_PROBE_SELECT_TOP1)
    order = sorted(table.cells(), key=lambda c: -(score[c] if score[c] is not None else -math.inf))
    return [table.values_of(cell) for cell in order]


def full_scale_cells(grid: str) -> list[dict]:
    """The cells recorded at full scale, chosen from the proxy's select scores only: the paper-recipe
    cell, then the proxy's ``top`` best interleaved with ``spread`` more at evenly spaced ranks of the
    rest (so that a part stopped early still holds both ends of the ranking)."""
    top, spread = FULL_CELLS[grid]
    ranked = proxy_select_ranking(grid)
    rest = ranked[top:]
    spaced = [rest[round(i * (len(rest) - 1) / (spread - 1))] for i in range(spread)]
    interleaved = [cell for pair in itertools.zip_longest(ranked[:top], spaced) for cell in pair if cell]
    paper = nearest_cell(grid, PAPER_RECIPE[grid])
    return [paper] + [cell for cell in interleaved if cell != paper]


def runs_of(part: str) -> list[tuple[str, dict, int]]:
    """The (grid, cell, seed) runs a part records."""
    simclr, vicreg = cells("simclr"), cells("vicreg")
    parts = {f"simclr-{i + 1}": (lambda i=i: [("simclr", c, 0) for c in simclr[60 * i:60 * (i + 1)]]) for i in range(3)}
    parts["seeds"] = lambda: [("simclr", c, s) for c in simclr[::7][:SEED_CELLS] for s in (1, 2)]
    parts["vicreg"] = lambda: [("vicreg", c, 0) for c in vicreg]
    parts["seeds-top"] = lambda: [(grid, c, s) for grid, n in TOP_SEED_CELLS.items()
                                  for c in proxy_select_ranking(grid)[:n] for s in (1, 2)
                                  if (grid, c, s) not in parts["seeds"]()]
    parts["edge"] = lambda: [("simclr", c, 0) for c in cells("simclr", edge_params())]
    parts["full"] = lambda: [(grid, c, 0) for pair in itertools.zip_longest(*map(full_scale_cells, FULL_CELLS))
                             for grid, c in zip(FULL_CELLS, pair) if c]
    parts["full-seeds"] = lambda: [(grid, c, s) for grid in FULL_CELLS for c in proxy_select_ranking(grid)[:5]
                                   for s in (1, 2)]
    if part not in parts:
        raise SystemExit(f"unknown part {part!r}; choose from {', '.join(parts)}")
    return parts[part]()


PARTS = ("simclr-1", "simclr-2", "simclr-3", "seeds", "vicreg", "seeds-top", "edge", "full", "full-seeds")


def folder_of(part: str) -> Path:
    """The table a part records into."""
    return {"edge": EDGE_FOLDER, "full": FULL_FOLDER, "full-seeds": FULL_FOLDER}.get(part, FOLDER)


def scale_of(folder: Path) -> dict:
    return FULL_SCALE if folder == FULL_FOLDER else SCALE


def _rounded(value):
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


def record(grid: str, cell: dict, seed: int, scale: dict = SCALE) -> dict:
    """Train one cell with one seed at ``scale``; its recorded epochs and final evaluation."""
    overrides = {**scale, **GRIDS[grid]["overrides"], **cell, "seed": seed}
    data_dir = DATA_DIR if scale is SCALE else DATA_DIR.with_name(DATA_DIR.name + "-full")
    session = pretrain_locally(preset_config(BASE, overrides), data_dir)
    epochs = [{key: _rounded(report.get(key)) for key in EPOCH_KEYS} for report in session.reports]
    last = session.reports[-1]
    final = {key: _rounded(last[key]) for key in FINAL_KEYS if key in last}
    return {"grid": grid, "cell": cell, "seed": seed, "epochs": epochs, "final": final}


def write_header(folder: Path) -> None:
    """The header of the table in ``folder``: its scale, its grids, its keys and its parts' sizes
    (the full-scale table's grids are the proxy's, its chosen cells listed as ``cells``)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [p for p in PARTS if folder_of(p) == folder]
    grids = GRIDS
    extra = {}
    if folder == EDGE_FOLDER:
        grids = {"simclr": {**GRIDS["simclr"], "params": edge_params()}}
    if folder == FULL_FOLDER:
        extra = {"cells": {grid: full_scale_cells(grid) for grid in FULL_CELLS},
                 "chosen_by": "the proxy table's seed-0 select linear probe only (full_scale_cells)"}
    header = {"base": BASE, "scale": scale_of(folder), "grids": grids, "epoch_keys": EPOCH_KEYS,
              "final_keys": FINAL_KEYS, "parts": {p: len(runs_of(p)) for p in parts}, **extra}
    (folder / "table.json").write_text(json.dumps(header, indent=1) + "\n")


def recorded(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {json.dumps([row["grid"], row["cell"], row["seed"]], sort_keys=True)
            for row in map(json.loads, path.read_text().splitlines())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", required=True, choices=PARTS)
    parser.add_argument("--from-end", action="store_true",
                        help="take the part's runs last first, so a second process can share the part with one "
                             "going forward (each checks the file before every run, so they meet in the middle)")
    args = parser.parse_args()
    folder = folder_of(args.part)
    write_header(folder)
    out = folder / f"{args.part}.jsonl"
    runs = runs_of(args.part)[::-1] if args.from_end else runs_of(args.part)
    print(f"part {args.part}: {len(recorded(out))} runs recorded of {len(runs)}", flush=True)
    for grid, cell, seed in runs:
        if json.dumps([grid, cell, seed], sort_keys=True) in recorded(out):
            continue
        start = time.perf_counter()
        row = record(grid, cell, seed, scale_of(folder))
        if json.dumps([grid, cell, seed], sort_keys=True) in recorded(out):
            continue  # the process sharing the part recorded the same run meanwhile (where the two meet)
        with out.open("a") as f:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
        print(f"[{len(recorded(out))}/{len(runs)}] {grid} {cell} seed {seed}: test linear probe "
              f"{row['final'].get(reports.LINEAR_PROBE_TEST_TOP1, 'diverged')} ({time.perf_counter() - start:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
