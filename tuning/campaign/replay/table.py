"""Recorded learning curves: a grid of cells (every combination of a few ordered parameter
values), each trained to the end with one or more seeds, its every epoch's report and its final
evaluation kept.  A table is a folder: ``table.json`` (the grids, the scale, the keys recorded)
and one ``PART.jsonl`` per recorded part, a run a line (benchmarks/curve_table.py writes them).

Loading checks the table before anything replays it: every cell of a grid is there with seed
0, and every curve holds epochs 1..N with nothing missing, where N is the schedule's length or
the epoch at which the run diverged (its loss went non-finite, and the loop stopped)."""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning.errors import UserError
from tuning.run import reports

HEADER = "table.json"


class TableError(UserError, ValueError):
    """A learning-curve table, or a campaign to replay, that cannot be replayed as it is."""


@dataclass(frozen=True)
class Curve:
    """One run of one cell: its reports, epoch by epoch, and its final evaluation (empty when it diverged)."""
    epochs: tuple[dict[str, Any], ...]
    final: dict[str, Any]

    @property
    def diverged(self) -> bool:
        return self.epochs[-1].get(reports.RUN_STATE) == reports.RunState.DIVERGED

    @property
    def ended(self) -> bool:
        """Whether the run ended by itself (completed or diverged), not stopped by a scheduler."""
        return self.epochs[-1].get(reports.RUN_STATE) in (reports.RunState.COMPLETED, reports.RunState.DIVERGED)

    def report(self, epoch: int) -> dict[str, Any]:
        """The report of ``epoch`` (1-based), the final evaluation merged into the last one."""
        report = dict(self.epochs[epoch - 1])
        if epoch == len(self.epochs):
            report.update(self.final)
        return report


@dataclass(frozen=True)
class Grid:
    """One grid of a table: its parameters' ordered values, its schedule length, and its curves
    by (cell, seed), a cell being the tuple of its values in parameter order; the search space it
    was recorded for, and the config values it was recorded with beyond its parameters."""
    name: str
    params: dict[str, list[Any]]
    epochs: int
    curves: dict[tuple[tuple[Any, ...], int], Curve]
    space: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[tuple[Any, ...]]:
        """Every cell, in a fixed order (the last parameter varies fastest)."""
        return list(itertools.product(*self.params.values()))

    def cell_of(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The cell of a trial's sampled values; TableError when a value is not on the grid."""
        cell = []
        for name, allowed in self.params.items():
            if name not in values:
                raise TableError(f"grid {self.name!r}: the trial sets no {name!r} (the grid's parameters: "
                                 f"{', '.join(self.params)})")
            if values[name] not in allowed:
                raise TableError(f"grid {self.name!r}: {name}={values[name]!r} is not on the grid "
                                 f"({', '.join(map(str, allowed))})")
            cell.append(values[name])
        return tuple(cell)

    def absent(self) -> list[tuple[Any, ...]]:
        """The cells not yet recorded with seed 0 (a table still being recorded has some)."""
        return [cell for cell in self.cells() if (cell, 0) not in self.curves]

    def check_complete(self) -> Grid:
        """This grid, every cell recorded with seed 0 (replay needs it); else TableError naming the first missing."""
        absent = self.absent()
        if absent:
            raise TableError(f"table grid {self.name!r}: {len(absent)} of its {len(self.cells())} cells are not "
                             f"recorded with seed 0 (the first: {self.values_of(absent[0])}); record the parts that "
                             "hold them first")
        return self

    def values_of(self, cell: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self.params, cell))

    def curve(self, cell: tuple[Any, ...], seed: int = 0) -> Curve:
        return self.curves[(cell, seed)]

    def seeds_of(self, cell: tuple[Any, ...]) -> list[int]:
        return sorted(seed for (c, seed) in self.curves if c == cell)

    def final(self, key: str, seed: int = 0) -> dict[tuple[Any, ...], float | None]:
        """Every cell's final ``key`` (None where the run diverged)."""
        return {cell: self.curve(cell, seed).final.get(key) for cell in self.cells()}


def check_curve(grid: str, cell: tuple[Any, ...], seed: int, curve: Curve, epochs: int, final_keys: list[str]) -> None:
    """Epochs 1..N, all there, N the schedule's length or the diverged epoch; the final keys when it completed."""
    where = f"table grid {grid!r}, cell {cell}, seed {seed}"
    numbers = [report.get(reports.EPOCH) for report in curve.epochs]
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise TableError(f"{where}: its epochs are {numbers}, not 1..N with none missing")
    if not curve.diverged and len(numbers) != epochs:
        raise TableError(f"{where}: it has {len(numbers)} epochs of {epochs} and did not diverge")
    missing = [key for key in final_keys if key not in curve.final]
    if not curve.diverged and missing:
        raise TableError(f"{where}: its final evaluation lacks {missing}")


def load_table(folder: str | Path, complete: bool = True) -> dict[str, Grid]:
    """The table in ``folder`` (its header and every part), checked; TableError names what is wrong.
    ``complete``: every cell of every grid must be recorded with seed 0 (replay needs it; an
    analysis of the cells recorded so far does not)."""
    folder = Path(folder)
    header_path = folder / HEADER
    if not header_path.is_file():
        raise TableError(f"{str(folder)!r} is not a learning-curve table: it has no {HEADER}")
    header = json.loads(header_path.read_text())
    epochs = int(header["scale"]["schedule.epochs"])
    runs: dict[str, dict[tuple[tuple[Any, ...], int], Curve]] = {name: {} for name in header["grids"]}
    for part in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(part.read_text().splitlines(), 1):
            row = json.loads(line)
            if row["grid"] not in runs:
                raise TableError(f"{part.name} line {number}: grid {row['grid']!r} is not in {HEADER} "
                                 f"({', '.join(runs)})")
            params = header["grids"][row["grid"]]["params"]
            cell = tuple(row["cell"][name] for name in params)
            runs[row["grid"]][(cell, row["seed"])] = Curve(tuple(row["epochs"]), row["final"])
    grids = {}
    for name, spec in header["grids"].items():
        grid = Grid(name, spec["params"], epochs, runs[name], spec["space"], {**header["scale"], **spec["overrides"]})
        for (cell, seed), curve in grid.curves.items():
            check_curve(name, cell, seed, curve, epochs, header["final_keys"])
        grids[name] = grid.check_complete() if complete else grid
    return grids
