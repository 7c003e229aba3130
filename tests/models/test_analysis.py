"""The analyses' maths against float64 references written here (numpy, other formulas)."""
import numpy as np
import pytest
import torch

from models.analysis import (
    covariance_spectrum,
    diagonal_dominance,
    gram_block,
    linear_cka,
    negative_pair_cosines,
    spectrum_rank,
)


def _cka_by_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA as the normalised HSIC of the two (N, N) linear kernels, centred with H."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 12, generator=g, dtype=torch.float64)
    y = x @ torch.randn(12, 7, generator=g, dtype=torch.float64) + 0.5 * torch.randn(60, 7, generator=g,
                                                                                     dtype=torch.float64)
    return x, y


def test_linear_cka_matches_the_hsic_formula(pair):
    x, y = pair
    assert linear_cka(x, y) == pytest.approx(_cka_by_hsic(x.numpy(), y.numpy()), rel=1e-10)
    assert 0.0 < linear_cka(x, y) < 1.0


def test_linear_cka_properties(pair):
    x, y = pair
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x @ q, y) == pytest.approx(linear_cka(x, y), rel=1e-10)  # orthogonal transform
    assert linear_cka(7.5 * x, 0.01 * y) == pytest.approx(linear_cka(x, y), rel=1e-10)  # isotropic scaling
    assert linear_cka(x + 3.0, y) == pytest.approx(linear_cka(x, y), rel=1e-10)  # centring
    stretched = x * torch.linspace(0.1, 10, 12, dtype=torch.float64)  # not isotropic: CKA moves
    assert abs(linear_cka(stretched, y) - linear_cka(x, y)) > 1e-3
    assert linear_cka(x, torch.randn(60, 12, generator=torch.Generator().manual_seed(5))) < 0.5
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(x, y[:10])


def test_covariance_spectrum_and_rank_match_numpy():
    g = torch.Generator().manual_seed(2)
    low_rank = torch.randn(200, 3, generator=g, dtype=torch.float64) @ torch.randn(3, 16, generator=g,
                                                                                    dtype=torch.float64)
    spectrum = covariance_spectrum(low_rank)
    reference = np.linalg.svd(np.cov(low_rank.numpy(), rowvar=False), compute_uv=False)
    np.testing.assert_allclose(spectrum.numpy(), reference, rtol=1e-9, atol=1e-9)
    assert spectrum_rank(spectrum) == 3  # three dimensions used: the spectrum drops after 3
    assert spectrum_rank(covariance_spectrum(torch.randn(200, 16, generator=g))) == 16


def test_negative_pair_cosines_are_every_pair_of_different_samples():
    z = torch.randn(9, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    unit = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    reference = sorted(float(unit[i] @ unit[j]) for i in range(9) for j in range(i + 1, 9))
    np.testing.assert_allclose(sorted(negative_pair_cosines(z).tolist()), reference, rtol=1e-12)


def test_gram_block_and_diagonal_dominance():
    z = torch.randn(80, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    gram = gram_block(z, 64)
    assert gram.shape == (64, 64) and torch.allclose(gram.diagonal(), torch.ones(64, dtype=torch.float64))
    matrix = torch.tensor([[2.0, -1.0], [0.5, 4.0]], dtype=torch.float64)
    assert diagonal_dominance(matrix) == pytest.approx(3.0 / 0.75)
