"""Bundled data sets written to .beton once: sizes, class counts and the cache."""
import numpy as np
import pytest
import torch

from pipelines.beton import check_beton
from pipelines.bundled import ensure_bundled_betons
from pipelines.errors import DataError
from pipelines.loaders import eval_loader


@pytest.mark.service  # starts a process
def test_a_fashion_mnist_subset_is_written_once_with_the_official_val_split(tmp_path):
    train, val = ensure_bundled_betons("fashion-mnist", tmp_path, train_subset=500)
    assert check_beton(train).num_samples == 500 and check_beton(val).num_samples == 10000
    assert check_beton(val).classes[0] == "T-shirt/top" and len(check_beton(train).classes) == 10
    labels = torch.cat([y for _, y in eval_loader(str(train), 64, 28, torch.device("cpu"), train=False)]).numpy()
    assert np.bincount(labels).tolist() == [50] * 10
    stamp = train.stat().st_mtime_ns
    assert ensure_bundled_betons("fashion-mnist", tmp_path, train_subset=500) == (train, val)
    assert train.stat().st_mtime_ns == stamp  # reused, not written again


def test_an_unknown_bundled_name_lists_the_known_ones(tmp_path):
    with pytest.raises(DataError, match="allowed: digits, fashion-mnist"):
        ensure_bundled_betons("cifar", tmp_path)
