"""scikit-learn's digits as bundled .beton files, written once."""

import pytest

from pipelines.beton import check_beton
from pipelines.bundled import ensure_bundled_betons


@pytest.mark.service  # starts a process
def test_digits_betons_are_written_once(tmp_path):
    train, val = ensure_bundled_betons("digits", tmp_path)
    assert check_beton(train).num_samples + check_beton(val).num_samples == 1797
    stamp = train.stat().st_mtime_ns
    assert ensure_bundled_betons("digits", tmp_path) == (train, val)
    assert train.stat().st_mtime_ns == stamp
