"""The three splits every run keeps apart: ``train`` fits, ``select`` chooses, ``test`` reports.

``select`` is a fixed, seeded, class-balanced slice of the train .beton (``per_class``
images of each class, the same for every run of a campaign whatever its own seed), held out
of everything that trains: pretraining, the probes and the untrained network's statistics
read only the rest of train (``fit``).  Every choice (the rung metric, the search, the
exported best, the probe's lr, k-NN's setting) is scored on ``select``; every reported number
on the separate ``test`` file.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from pipelines.errors import DataError


def balanced_subset(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Indices of ``size`` samples, the same number from each class (``size`` must be a
    multiple of the class count), drawn with ``seed``, in ascending order."""
    classes = np.unique(labels)
    if size % len(classes) or not 0 < size <= len(labels):
        raise DataError(f"subset size {size} must be a positive multiple of the {len(classes)} classes, "
                        f"at most {len(labels)}")
    per_class = size // len(classes)
    smallest = min(int((labels == c).sum()) for c in classes)
    if per_class > smallest:
        raise DataError(f"subset size {size} needs {per_class} images a class; the smallest class has {smallest}")
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(chosen))


def beton_labels(path: str) -> np.ndarray:
    """Every sample's label of a .beton, read from its metadata table (no image is decoded)."""
    from ffcv.reader import Reader

    reader = Reader(path)
    names = list(reader.handlers)
    if "label" not in names:
        raise DataError(f"{path} has no 'label' field (fields: {', '.join(names)})")
    return np.asarray(reader.metadata[f"f{names.index('label')}"], dtype=np.int64)


@dataclass(frozen=True)
class TrainSplit:
    """Indices into the train .beton: ``fit`` (everything that trains reads these) and
    ``select`` (what choices are scored on); disjoint, together the whole file."""
    fit: np.ndarray
    select: np.ndarray


def split_labels(labels: np.ndarray, per_class: int, seed: int) -> TrainSplit:
    """``per_class`` images of every class drawn with ``seed`` as ``select``, the rest as
    ``fit``; DataError when a class could not keep at least one image to fit on."""
    classes, counts = np.unique(labels, return_counts=True)
    if per_class >= counts.min():
        smallest = classes[counts.argmin()]
        raise DataError(f"data.select_per_class={per_class} leaves nothing to train on in class {smallest} "
                        f"({counts.min()} train images); allowed: 1 to {counts.min() - 1}")
    select = balanced_subset(labels, per_class * len(classes), seed)
    fit = np.setdiff1d(np.arange(len(labels)), select, assume_unique=True)
    return TrainSplit(fit=fit, select=select)


def seeded_sample(indices: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A fixed seeded sample of ``size`` of ``indices`` (all of them when there are fewer), sorted."""
    if len(indices) <= size:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, size, replace=False))


@functools.lru_cache(maxsize=8)
def train_split(path: str, per_class: int, seed: int) -> TrainSplit:
    """The ``fit``/``select`` split of the train .beton at ``path`` (cached per process)."""
    return split_labels(beton_labels(path), per_class, seed)
