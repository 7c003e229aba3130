"""The table's rung-metric benchmark over a synthetic grid still being recorded: it reads the cells
recorded so far, says how many, ranks each candidate against the final test linear probe, and
words its goal from the numbers."""
import itertools

from benchmarks import table_rung_metrics
from benchmarks.metric_signal import CANDIDATES
from tuning.campaign.replay.table import Curve, Grid
from tuning.run import reports

EPOCHS = 4


def _curve(final: float, twist: float) -> Curve:
    """Every candidate recorded each epoch: the ridge probe follows the final score exactly, every
    other candidate is scrambled by ``twist``."""
    epochs = tuple({reports.EPOCH: e, reports.RUN_STATE: "completed" if e == EPOCHS else "running",
                    "epoch_time_s": 10.0, "select_time_s": 0.2, "rung_probes_time_s": 0.3,
                    **{c.key: twist for c in CANDIDATES}, reports.FROZEN_RIDGE_SELECT_TOP1: final - 4.0 / e}
                   for e in range(1, EPOCHS + 1))
    return Curve(epochs, {reports.LINEAR_PROBE_TEST_TOP1: final, "eval_time_s": 1.0})


def test_a_grid_still_being_recorded_is_read_from_the_cells_it_has():
    temperatures, lrs = [0.1, 0.2, 0.4], [0.1, 0.5, 2.5]
    cells = list(itertools.product(temperatures, lrs))
    curves = {(cell, 0): _curve(80.0 + i, twist=float((i * 5) % 9)) for i, cell in enumerate(cells[:-1])}
    grid = Grid("g", {"loss.params.temperature": temperatures, "optim.base_lr": lrs}, EPOCHS, curves)
    text = "\n".join(table_rung_metrics.report({"g": grid}))
    assert "- **g**: 8 of 9 cells (3 loss.params.temperature x 3 optim.base_lr) recorded, 0 diverged" in text
    assert f"| 1 | ridge probe on frozen features (`{reports.FROZEN_RIDGE_SELECT_TOP1}`) | **1.000** |" in text
    assert "g: the ridge probe on frozen features" in text and "on 8 completed cells of 9 so far" in text
    assert "3.0% of an epoch" in text and "(goal **met**)" in text  # rho 1, its probes 0.3 s of a 10 s epoch
