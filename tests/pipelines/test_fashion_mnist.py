"""Fashion-MNIST from the Debian package: the official split, read by our IDX reader."""
import gzip

import numpy as np
import pytest

from pipelines.errors import DataError
from pipelines.fashion_mnist import fashion_mnist_split, read_idx


def test_the_official_split_has_its_sizes_and_class_counts():
    train_x, train_y = fashion_mnist_split("train")
    test_x, test_y = fashion_mnist_split("test")
    assert train_x.shape == (60000, 28, 28, 3) and test_x.shape == (10000, 28, 28, 3)
    assert train_x.dtype == np.uint8 and np.array_equal(train_x[..., 0], train_x[..., 2])  # gray as RGB
    assert np.bincount(train_y).tolist() == [6000] * 10 and np.bincount(test_y).tolist() == [1000] * 10


def test_the_idx_reader_matches_a_file_written_by_hand(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(b"\x00\x00\x08\x03" + np.array([2, 3, 4], dtype=">i4").tobytes() + values.tobytes())
    assert np.array_equal(read_idx(path), values)
    with gzip.open(path, "wb") as stream:
        stream.write(b"\x00\x00\x08\x03" + np.array([2, 3, 5], dtype=">i4").tobytes() + values.tobytes())
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


def test_missing_files_name_the_debian_package(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist_split("train", root=tmp_path)
