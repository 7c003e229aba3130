"""The paper's representation analyses as pure functions of (N, D) batches of outputs.

Fig. S2: linear CKA between two networks' representations of the same images.
Fig. S4: the distribution of cosine similarities between embeddings of different images.
Fig. S5: the singular-value spectrum of the embedding covariance (dimensional collapse).
Fig. S8: the Gram matrix of a batch's first samples and the covariance of its first dimensions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _centred(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().double()
    return x - x.mean(dim=0, keepdim=True)


def covariance(x: torch.Tensor) -> torch.Tensor:
    """The (D, D) covariance of a (N, D) batch (centred over the batch, divided by N - 1)."""
    centred = _centred(x)
    return centred.T @ centred / max(1, x.shape[0] - 1)


def covariance_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Singular values of the batch covariance, largest first (Fig. S5, after Jing et al. 2022):
    a spectrum that falls to ~0 after k values means the outputs span only k dimensions."""
    return torch.linalg.svdvals(covariance(x))


def spectrum_rank(spectrum: torch.Tensor, relative_floor: float = 1e-5) -> int:
    """How many singular values exceed ``relative_floor`` times the largest: where Fig. S5's
    log-spectrum drops off (the dimensions the outputs really use)."""
    if spectrum.numel() == 0 or float(spectrum[0]) <= 0:
        return 0
    return int((spectrum > relative_floor * spectrum[0]).sum())


def negative_pair_cosines(z: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of different samples of a (N, D) batch, N(N-1)/2 values
    (Fig. S4: the negative pairs a sample-contrastive loss pushes apart)."""
    unit = F.normalize(z.detach().double(), dim=1)
    cosines = unit @ unit.T
    upper = torch.triu_indices(len(z), len(z), offset=1)
    return cosines[upper[0], upper[1]]


def gram_block(z: torch.Tensor, size: int = 64) -> torch.Tensor:
    """The Gram matrix of the first ``size`` unit-norm embeddings (Fig. S8, K^T K)."""
    unit = F.normalize(z.detach().double()[:size], dim=1)
    return unit @ unit.T


def covariance_block(z: torch.Tensor, size: int = 64) -> torch.Tensor:
    """The covariance of the first ``size`` dimensions over the batch (Fig. S8, K K^T)."""
    return covariance(z[:, :size])


def diagonal_dominance(matrix: torch.Tensor) -> float:
    """Mean |diagonal| over mean |off-diagonal| of a square matrix (Fig. S8's "diagonally
    dominant" as one number; larger is cleaner)."""
    n = matrix.shape[0]
    off = matrix.abs().sum() - matrix.diagonal().abs().sum()
    return float(matrix.diagonal().abs().mean() / (off / max(1, n * n - n)).clamp_min(1e-30))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA (Kornblith et al. 2019; the paper's Fig. S2) between two (N, D1), (N, D2)
    representations of the same N inputs: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F),
    with Xc, Yc centred over the N inputs.  1 for equal inputs; invariant to orthogonal
    transforms and isotropic scaling of either side."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same inputs on both sides: got {x.shape[0]} and {y.shape[0]} rows")
    xc, yc = _centred(x), _centred(y)
    cross = (yc.T @ xc).pow(2).sum()
    return float(cross / ((xc.T @ xc).norm() * (yc.T @ yc).norm()).clamp_min(1e-300))
