"""The tables' one number formatter."""
import pytest

from tuning.tables import fmt


@pytest.mark.parametrize("value, digits, expected", [
    (None, 2, "-"), (95.8333, 2, "95.83"), (0.0005, 2, "0.0005"), (2.0, 0, "2"), ("0.30000001", 3, "0.300"),
    ("lars", 2, "lars"), (7, 2, "7"), ("1e-06", 3, "1e-06"),
])
def test_cells_are_rounded_and_small_numbers_keep_their_digits(value, digits, expected):
    assert fmt(value, digits) == expected
