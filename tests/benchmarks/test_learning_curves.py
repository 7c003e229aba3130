"""The learning-curves benchmark's report read back from JSON (epochs as text): every baseline
row, the last epoch taken as the final one, and SSL as a share of the supervised ceiling."""
import json

from benchmarks import learning_curves
from tuning.run import reports


def _point(linear: float) -> dict:
    return {reports.LINEAR_PROBE_TEST_TOP1: linear, reports.KNN_TEST_TOP1: linear - 1}


def test_the_report_reads_a_saved_outcome_in_epoch_order_beside_every_baseline():
    base = {reports.baseline_key(name, score): value for name, value in
            (("raw_pixels", 84.0), ("random_features", 85.0), ("untrained", 80.0), ("supervised", 92.0))
            for score in learning_curves.SCORES}
    curves = [{"name": "best", "seed": 0, "overrides": {}, "trial_minutes": 10.0, "select": 90.0,
               "points": {"1": _point(85.0), "12": _point(90.0), "8": _point(70.0)}},
              {"name": "best", "seed": 1, "overrides": {}, "trial_minutes": 10.0, "select": 90.0,
               "points": {"12": _point(88.0)}}]
    saved = json.loads(json.dumps({"curves": curves, "baselines": base}))
    lines = learning_curves.report(saved)
    labels = [line.split(" | ")[0].lstrip("| ") for line in lines[2:6]]
    assert labels == ["raw pixels", "random features of the pixels", "untrained network", "supervised (labels)"]
    assert [line.split(" | ")[2] for line in lines[6:9]] == ["1", "8", "12"]
    summary = next(line for line in lines if line.startswith("- best config"))
    assert "test linear probe 89.00" in summary  # the epoch-12 scores (90, 88), not epoch 8's 70
    assert "+5.00 over raw pixels, +4.00 over their random features, +9.00 over the untrained network" in summary
    assert f"{100 * 89.0 / 92.0:.1f}% of the supervised ceiling's linear probe (92.00)" in summary
