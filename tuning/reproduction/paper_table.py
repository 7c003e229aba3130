"""The paper's Table S5 (online top-1 on ImageNet, ResNet-50, 100 epochs) and the cell that
matches a scaled-down variant's projector and d.

A CPU study scales the paper's widths and d by 1/``scale`` (16: 8192 -> 512, 2048 -> 128); a
variant's cell is the one whose projector family and d are its own times ``scale``. A shape
with no such cell (a 512-d projector, d = 64 at scale 16) has no paper number beside it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.projector import parse_projector_spec

TableS5Row = Literal["VICReg", "VICReg-exp", "VICReg-ctr", "SimCLR-Orig", "SimCLR-Tuned"]
DIMS = (256, 512, 1024, 2048, 8192)
CELL_AXES = ("loss.method", "model.projector", "model.embedding_dim")  # the config values that name a cell
# Table S5 as ../shared/reference/paper_digest.md rebuilt it: row -> projector family -> top-1 per d in DIMS.
TABLE_S5: dict[str, dict[str, tuple[float, ...]]] = {
    "VICReg": {"d-d-d": (61.36, 63.50, 65.35, 66.74, 68.13), "8192-8192-d": (65.01, 66.72, 68.06, 68.07, 68.13),
               "2048-d": (59.57, 64.51, 64.64, 64.15, 64.06), "2048-2048-d": (64.16, 65.87, 66.68, 66.74, 66.78)},
    "VICReg-exp": {"d-d-d": (61.02, 63.90, 66.33, 66.82, 67.93),
                   "8192-8192-d": (65.24, 66.71, 67.86, 68.00, 67.93),
                   "2048-d": (61.53, 63.59, 65.06, 64.31, 64.34),
                   "2048-2048-d": (64.66, 65.77, 66.99, 66.82, 66.88)},
    "VICReg-ctr": {"d-d-d": (62.87, 64.95, 66.21, 66.93, 67.73),
                   "8192-8192-d": (67.72, 67.86, 67.84, 67.92, 67.73),
                   "2048-d": (64.79, 64.83, 65.00, 64.81, 64.44),
                   "2048-2048-d": (66.95, 66.91, 66.98, 66.93, 67.18)},
    "SimCLR-Orig": {"d-d-d": (63.42, 64.35, 65.05, 65.61, 66.08),
                    "8192-8192-d": (66.11, 66.33, 66.00, 66.02, 66.08),
                    "2048-d": (64.78, 64.69, 64.83, 64.66, 64.73),
                    "2048-2048-d": (65.36, 65.75, 65.61, 65.61, 65.70)},
    "SimCLR-Tuned": {"d-d-d": (63.42, 65.35, 66.36, 67.62, 68.68),
                     "8192-8192-d": (68.45, 68.61, 68.49, 68.48, 68.68),
                     "2048-d": (66.13, 66.04, 66.19, 66.42, 66.27),
                     "2048-2048-d": (67.48, 67.50, 67.62, 67.62, 67.65)},
}


@dataclass(frozen=True)
class PaperCell:
    """One cell of Table S5: its row, projector family and d, and the paper's top-1."""
    row: str
    projector: str
    dim: int
    top1: float

    def label(self) -> str:
        return f"{self.top1:.2f} ({self.projector.replace('d', str(self.dim))})"


def paper_cell(row: str, projector: str, dim: int | None, scale: int) -> PaperCell | None:
    """The cell of ``row`` whose projector family and d are ``projector`` and ``dim`` times
    ``scale`` (two hidden layers of width d are the family ``d-d-d``, the same network as
    8192-8192-d at d = 8192); None where Table S5 has no such cell."""
    widths = parse_projector_spec(projector, dim)
    d = widths[-1] * scale
    hidden = [w * scale for w in widths[:-1]]
    family = "d-d-d" if hidden == [d, d] else "-".join([*map(str, hidden), "d"])
    if d not in DIMS or family not in TABLE_S5[row]:
        return None
    return PaperCell(row, family, d, TABLE_S5[row][family][DIMS.index(d)])


def row_gap(a: str, b: str, family: str) -> tuple[float, float]:
    """The smallest and largest difference row ``a`` - row ``b`` over the cells of ``family``
    (the same projector and d on both sides)."""
    gaps = [x - y for x, y in zip(TABLE_S5[a][family], TABLE_S5[b][family])]
    return min(gaps), max(gaps)
