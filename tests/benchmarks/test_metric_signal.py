"""The rung-metric study's statistics: Spearman's rho and its bootstrap interval."""
import numpy as np
from scipy.stats import rankdata

from benchmarks.metric_signal import bootstrap_interval, spearman


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho as Pearson's correlation of average ranks, in float64."""
    rx, ry = rankdata(x), rankdata(y)
    return float(np.corrcoef(rx, ry)[0, 1])


def test_spearman_is_the_correlation_of_ranks():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    y[:10] = x[:10]  # some shared order, and a tie-free sample
    assert spearman(x, y) == _rho(x, y)


def test_a_monotone_relation_has_an_interval_of_one_and_noise_an_interval_around_zero():
    x = np.arange(24, dtype=float)
    assert np.allclose(bootstrap_interval(list(x), list(x ** 3), draws=300), (1.0, 1.0), atol=1e-12)
    rng = np.random.default_rng(1)
    low, high = bootstrap_interval(list(rng.normal(size=24)), list(rng.normal(size=24)), draws=500)
    assert low < 0.0 < high and high - low > 0.3


def test_the_interval_is_the_percentiles_of_resampled_rhos():
    rng = np.random.default_rng(2)
    x = rng.normal(size=20)
    y = x + rng.normal(scale=1.0, size=20)
    draws, seed = 400, 5
    pick_rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(draws):
        pick = pick_rng.integers(0, 20, 20)
        if len(set(x[pick])) > 1 and len(set(y[pick])) > 1:
            rhos.append(_rho(x[pick], y[pick]))
    expected = tuple(np.percentile(rhos, [2.5, 97.5]))
    assert np.allclose(bootstrap_interval(list(x), list(y), draws=draws, seed=seed), expected, atol=1e-12)
