"""The three splits: select is class-balanced, seeded, disjoint from fit, and the loaders that
train read fit only."""
import numpy as np
import pytest
import torch

from pipelines.beton import ArraySource, write_beton
from pipelines.errors import DataError
from pipelines.loaders import eval_loader, ssl_loader
from pipelines.splits import balanced_subset, beton_labels, seeded_sample, split_labels, train_split

IMAGES, CLASSES = 120, 4


def test_a_subset_is_class_balanced_and_repeatable():
    labels = np.repeat(np.arange(4), 50)
    chosen = balanced_subset(labels, 40, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [10] * 4 and np.array_equal(chosen, balanced_subset(labels, 40, 3))
    assert not np.array_equal(chosen, balanced_subset(labels, 40, 4))
    with pytest.raises(DataError, match="multiple of the 4 classes"):
        balanced_subset(labels, 42)


def test_select_is_balanced_seeded_and_disjoint_from_fit():
    labels = np.random.default_rng(0).integers(0, 5, 300)
    split = split_labels(labels, per_class=7, seed=1)
    assert np.bincount(labels[split.select], minlength=5).tolist() == [7] * 5
    assert len(np.intersect1d(split.fit, split.select)) == 0
    assert np.array_equal(np.sort(np.concatenate([split.fit, split.select])), np.arange(300))
    assert np.array_equal(split.select, split_labels(labels, 7, 1).select)
    assert not np.array_equal(split.select, split_labels(labels, 7, 2).select)


def test_a_select_size_that_leaves_a_class_nothing_to_fit_on_is_refused():
    labels = np.array([0] * 10 + [1] * 3)
    assert len(split_labels(labels, per_class=2, seed=0).select) == 4
    with pytest.raises(DataError, match=r"data.select_per_class=3 .* class 1 \(3 train images\); allowed: 1 to 2"):
        split_labels(labels, per_class=3, seed=0)


def test_a_seeded_sample_is_fixed_sorted_and_within_its_indices():
    fit = np.arange(0, 1000, 3)
    bank = seeded_sample(fit, 50, seed=2)
    assert len(bank) == 50 and set(bank) <= set(fit) and np.array_equal(bank, np.sort(bank))
    assert np.array_equal(bank, seeded_sample(fit, 50, 2)) and not np.array_equal(bank, seeded_sample(fit, 50, 3))
    assert np.array_equal(seeded_sample(fit, 5000, 2), fit)


@pytest.fixture(scope="module")
def indexed_beton(tmp_path_factory):
    """Constant images whose grey level is twice their index: any crop of one says which it is."""
    levels = (2 * np.arange(IMAGES)).astype(np.uint8)
    images = np.broadcast_to(levels[:, None, None, None], (IMAGES, 16, 16, 3)).copy()
    labels = np.arange(IMAGES) % CLASSES
    path = write_beton(ArraySource(images, labels), tmp_path_factory.mktemp("indexed") / "train.beton",
                       [str(c) for c in range(CLASSES)])
    return str(path), labels


def image_ids(batch: torch.Tensor) -> list[int]:
    """The index each image of a uint8 (B, C, H, W) batch was written with."""
    return (batch[:, 0, 0, 0].to(torch.int64) // 2).tolist()


@pytest.mark.service  # FFCV's writer starts processes
def test_labels_come_from_the_metadata_and_the_training_loaders_never_read_select(indexed_beton):
    path, labels = indexed_beton
    assert np.array_equal(beton_labels(path), labels)
    split = train_split(path, per_class=5, seed=0)
    seen = []
    for epoch in range(3):
        loader = ssl_loader(path, 8, 16, torch.device("cpu"), seed=epoch, distributed=False, indices=split.fit)
        loader.set_epoch(epoch)
        for view1, view2, _ in loader:
            assert image_ids(view1) == image_ids(view2)  # two views of the same images
            seen += image_ids(view1)
    assert set(seen) <= set(split.fit.tolist()) and not set(seen) & set(split.select.tolist())
    assert len(set(seen)) > 0.9 * len(split.fit)  # it did read fit (drop_last leaves a few out an epoch)
    scored = [i for images, _ in eval_loader(path, 16, 16, torch.device("cpu"), train=False, indices=split.select)
              for i in image_ids(images)]
    assert scored == split.select.tolist()
