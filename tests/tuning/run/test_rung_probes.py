"""The rung-metric candidates on frozen features: the ridge probe against a float64 reference
written here with numpy."""
import numpy as np
import pytest
import torch

from tuning.run.rung_probes import RIDGE_PENALTIES, ridge_top1

CLASSES = 4


def _features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means plus noise on a few dimensions, and one huge, useless dimension."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    x = rng.normal(0, 1.0, (n, 12)) + np.eye(CLASSES, 12)[labels] * 1.5
    x[:, -1] = rng.normal(0, 1e4, n)
    return x, labels


def _reference(train, test) -> float:
    (x, y), (qx, qy) = train, test
    mean, std = x.mean(0), x.std(0, ddof=1)
    design = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    query = np.hstack([(qx - mean) / std, np.ones((len(qx), 1))])
    best = 0.0
    for penalty in RIDGE_PENALTIES:
        regulariser = penalty * len(x) * np.diag([1.0] * (design.shape[1] - 1) + [0.0])
        weights = np.linalg.solve(design.T @ design + regulariser, design.T @ np.eye(CLASSES)[y])
        best = max(best, 100.0 * np.mean((query @ weights).argmax(1) == qy))
    return best


def test_the_ridge_probe_matches_a_float64_reference():
    train, test = _features(400, 0), _features(200, 1)
    as_torch = lambda x, y: (torch.from_numpy(x).float(), torch.from_numpy(y))  # noqa: E731
    measured = ridge_top1(as_torch(*train), as_torch(*test), CLASSES)
    # at most one prediction flips (the input is float32)
    assert measured == pytest.approx(_reference(train, test), abs=100.0 / 200 + 1e-9)
    assert measured > 100.0 / CLASSES + 20  # standardisation keeps the huge useless dimension from swamping it
