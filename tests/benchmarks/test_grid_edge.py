"""The grid-edge report: per-lr means, the paired edge-less-top difference checked against a
float64 reference, and the verdict on both sides (optimum inside, optimum past the edge)."""
import numpy as np

from benchmarks.grid_edge import mean_interval, outcome_of, paired_differences, report
from tuning.campaign.replay.table import Curve, Grid

TEMPERATURES = [0.1, 0.2, 0.4, 0.8]


def _grid(lrs, score):
    """A grid over temperature x base lr whose cell's select and test score is ``score(t, lr)``."""
    curves = {((t, lr), 0): Curve(({"epoch": 1, "status": "completed"},),
                                  {"linear_probe_select_top1": score(t, lr), "linear_probe_test_top1": score(t, lr)})
              for t in TEMPERATURES for lr in lrs}
    return Grid("simclr", {"loss.params.temperature": TEMPERATURES, "optim.base_lr": lrs}, 1, curves)


def test_an_optimum_past_the_edge_is_said_and_the_difference_matches_a_reference():
    rising = lambda t, lr: 80.0 + lr + t  # noqa: E731  (higher lr, higher score: the optimum lies past 5)
    outcome = outcome_of(_grid([1.0, 5.0], rising), _grid([15.8], rising))
    differences = paired_differences(outcome)
    reference = [(80.0 + 15.8 + t) - (80.0 + 5.0 + t) for t in TEMPERATURES]
    assert np.allclose(differences, reference) and np.isclose(mean_interval(differences)[0], np.mean(reference))
    text = "\n".join(report(outcome))
    assert "+10.80 (95% interval +10.80 to +10.80); 4 of 4 gained" in text and "widen it" in text
    assert "| 15.8 | 4 | 0 |" in text


def test_a_plateau_at_the_edge_keeps_the_range():
    flat = lambda t, lr: 84.0 + (0.5 if lr >= 5 else 0.0) + (0.1 if t == 0.2 else 0.0)  # noqa: E731
    wobble = lambda t, lr: 84.5 + (0.1 if t == 0.4 else -0.05)  # noqa: E731  (no better at 15.8 on average)
    text = "\n".join(report(outcome_of(_grid([1.0, 5.0], flat), _grid([15.8], wobble))))
    assert "has not moved past the searched range" in text and "widen it" not in text
