"""The tables' one number formatter."""
import pytest

from tuning.tables import baselines_line, fmt


@pytest.mark.parametrize("value, digits, expected", [
    (None, 2, "-"), (95.8333, 2, "95.83"), (0.0005, 2, "0.0005"), (2.0, 0, "2"), ("0.30000001", 3, "0.300"),
    ("lars", 2, "lars"), (7, 2, "7"), ("1e-06", 3, "1e-06"),
])
def test_cells_are_rounded_and_small_numbers_keep_their_digits(value, digits, expected):
    assert fmt(value, digits) == expected


def test_the_baselines_line_names_each_representation_and_probe():
    line = baselines_line({"baseline_raw_pixels_linear_probe_test_top1": 82.884,
                           "baseline_raw_pixels_knn_test_top1": 80.5,
                           "baseline_untrained_linear_probe_test_top1": 77.45})
    assert line == ("Baselines (the same probes, test top-1): raw pixels: linear probe 82.88, k-NN 80.50; "
                    "untrained network: linear probe 77.45")
    assert baselines_line({}) is None
