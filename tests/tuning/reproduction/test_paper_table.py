"""Table S5 cells matched to a scaled-down variant's projector and d, or none."""
import pytest

from tuning.reproduction.paper_table import TABLE_S5, paper_cell


@pytest.mark.parametrize("row,projector,dim,family,d,top1", [
    ("SimCLR-Orig", "128-d", 128, "2048-d", 2048, 64.66),  # SimCLR's own projector shape, scaled
    ("SimCLR-Tuned", "512-512-d", 512, "d-d-d", 8192, 68.68),  # 8192-8192-8192: the d-d-d cell, same network
    ("VICReg", "512-512-d", 128, "8192-8192-d", 2048, 68.07),
    ("VICReg-ctr", "128-128-d", 32, "2048-2048-d", 512, 66.91),
    ("VICReg-exp", "64-64-64", None, "d-d-d", 1024, 66.33),
])
def test_cells_match_the_scaled_shape(row, projector, dim, family, d, top1):
    cell = paper_cell(row, projector, dim, 16)
    assert (cell.projector, cell.dim, cell.top1) == (family, d, top1)
    assert cell.label() == f"{top1:.2f} ({family.replace('d', str(d))})"


@pytest.mark.parametrize("projector,dim", [("512-d", 512), ("512-512-d", 100), ("128-d", 8)])
def test_shapes_without_a_cell_get_none(projector, dim):
    assert paper_cell("SimCLR-Tuned", projector, dim, 16) is None


def test_the_best_cells_are_the_papers_quoted_numbers():
    best = {row: max(max(values) for values in families.values()) for row, families in TABLE_S5.items()}
    assert best == {"VICReg": 68.13, "VICReg-exp": 68.00, "VICReg-ctr": 67.92, "SimCLR-Orig": 66.33,
                    "SimCLR-Tuned": 68.68}
