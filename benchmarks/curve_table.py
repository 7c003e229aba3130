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
is 0.65 points (1,000 images: 1.1), while cells of the grid span tens of points and neighbouring
good cells about one.  One run costs about 1.5 core-minutes.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from benchmarks.local_runs import preset_config, pretrain_locally
from tuning.run import reports

FOLDER = Path(__file__).parent / "results" / "curve_table"
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

EPOCH_KEYS = (reports.EPOCH, reports.RUN_STATE, reports.LOSS, "epoch_time_s", "select_time_s", "rung_probes_time_s",
              reports.ONLINE_TOP1, reports.online_top(1, "online_bn"), reports.online_top(1, split="train"),
              reports.FROZEN_KNN_SELECT_TOP1, reports.FROZEN_RIDGE_SELECT_TOP1, reports.FROZEN_RANKME, "rankme",
              "embedding_std")
FINAL_KEYS = (reports.LINEAR_PROBE_SELECT_TOP1, reports.LINEAR_PROBE_TEST_TOP1, reports.KNN_SELECT_TOP1,
              reports.KNN_TEST_TOP1, "linear_probe_lr", "eval_time_s")

SEED_CELLS = 24
"""Cells of the SimCLR grid that get seeds 1 and 2 too (every 7th cell: all four parameters vary)."""


def cells(grid: str) -> list[dict]:
    """Every cell of ``grid`` in a fixed order (the last parameter varies fastest)."""
    import itertools

    params = GRIDS[grid]["params"]
    return [dict(zip(params, values)) for values in itertools.product(*params.values())]


def runs_of(part: str) -> list[tuple[str, dict, int]]:
    """The (grid, cell, seed) runs a part records."""
    simclr, vicreg = cells("simclr"), cells("vicreg")
    parts = {f"simclr-{i + 1}": [("simclr", c, 0) for c in simclr[60 * i:60 * (i + 1)]] for i in range(3)}
    parts["seeds"] = [("simclr", c, s) for c in simclr[::7][:SEED_CELLS] for s in (1, 2)]
    parts["vicreg"] = [("vicreg", c, 0) for c in vicreg]
    if part not in parts:
        raise SystemExit(f"unknown part {part!r}; choose from {', '.join(parts)}")
    return parts[part]


PARTS = ("simclr-1", "simclr-2", "simclr-3", "seeds", "vicreg")


def _rounded(value):
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


def record(grid: str, cell: dict, seed: int) -> dict:
    """Train one cell with one seed; its recorded epochs and final evaluation."""
    overrides = {**SCALE, **GRIDS[grid]["overrides"], **cell, "seed": seed}
    session = pretrain_locally(preset_config(BASE, overrides), DATA_DIR)
    epochs = [{key: _rounded(report.get(key)) for key in EPOCH_KEYS} for report in session.reports]
    last = session.reports[-1]
    final = {key: _rounded(last[key]) for key in FINAL_KEYS if key in last}
    return {"grid": grid, "cell": cell, "seed": seed, "epochs": epochs, "final": final}


def write_header() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    HEADER.write_text(json.dumps({"base": BASE, "scale": SCALE, "grids": GRIDS, "epoch_keys": EPOCH_KEYS,
                                  "final_keys": FINAL_KEYS, "parts": {p: len(runs_of(p)) for p in PARTS}},
                                 indent=1) + "\n")


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
    write_header()
    out = FOLDER / f"{args.part}.jsonl"
    runs = runs_of(args.part)[::-1] if args.from_end else runs_of(args.part)
    print(f"part {args.part}: {len(recorded(out))} runs recorded of {len(runs)}", flush=True)
    for grid, cell, seed in runs:
        if json.dumps([grid, cell, seed], sort_keys=True) in recorded(out):
            continue
        start = time.perf_counter()
        row = record(grid, cell, seed)
        if json.dumps([grid, cell, seed], sort_keys=True) in recorded(out):
            continue  # the process sharing the part recorded the same run meanwhile (where the two meet)
        with out.open("a") as f:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
        print(f"[{len(recorded(out))}/{len(runs)}] {grid} {cell} seed {seed}: test linear probe "
              f"{row['final'].get(reports.LINEAR_PROBE_TEST_TOP1, 'diverged')} ({time.perf_counter() - start:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
