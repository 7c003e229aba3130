"""The paper's loss family as pure functions of two embedding batches.

Every loss takes ``z_a, z_b`` of shape (N, D): row i of each is the embedding of the two
views of sample i (the paper's K and K' are their transposes, M = D, N = N).  Every loss
returns a scalar, except ``vicreg``, which also returns its unweighted terms (computed once,
for the loss and for logging).  Tunable parameters have no defaults here: the method
registry (models.registry) holds them.  Under DDP the caller passes *global* batches (see models.gather), so
batch statistics (VICReg variance/covariance, Barlow Twins standardisation, negatives of
the contrastive losses) are over the whole batch of every rank.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SIMILARITY_TRANSFORMS = {
    "cosine": lambda s: s,
    "sq": lambda s: s * s,
    "abs": torch.abs,
}
NORMALIZATIONS = ("embedding", "centering", "standardization")
COVARIANCE_PENALTIES = ("squares", "logsumexp")


def off_diagonal(square: torch.Tensor) -> torch.Tensor:
    """The (n, n-1) matrix of a square matrix's off-diagonal entries, row by row."""
    n = square.shape[0]
    return square.flatten()[1:].view(n - 1, n + 1)[:, :-1].reshape(n, n - 1)


def normalize_embeddings(z: torch.Tensor, normalization: str = "embedding") -> torch.Tensor:
    """Normalise a (N, D) batch as in the paper's Table 1.

    ``embedding``: each row to unit L2 norm (classical SimCLR).  ``centering``: centre each
    dimension over the batch, then unit-norm rows (scenario A).  ``standardization``:
    centre each dimension, then scale each dimension to norm sqrt(N/D) (scenario B, Eq. 14).
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; allowed: {', '.join(NORMALIZATIONS)}")
    if normalization != "embedding":
        z = z - z.mean(dim=0, keepdim=True)
    if normalization == "standardization":
        n, d = z.shape
        return z / z.norm(dim=0, keepdim=True).clamp_min(1e-12) * math.sqrt(n / d)
    return F.normalize(z, dim=1)


def info_nce(z_a: torch.Tensor, z_b: torch.Tensor, *, temperature: float,
             similarity: str = "cosine", decoupled: bool = False,
             normalization: str = "embedding") -> torch.Tensor:
    """SimCLR's NT-Xent (Eqs. 16-17) and its relatives, averaged over the 2N anchors.

    Each of the 2N views is an anchor; its positive is the other view of its sample and
    its negatives are the other 2N-2 views.  ``similarity`` applies f to every similarity,
    positives included: ``sq`` is f(x)=x^2, ``abs`` is f(x)=|x| (SimCLR-sq/-abs, Eqs. 30-31).
    ``decoupled`` drops the positive from the denominator (DCL, Eq. 15; DCL-sq/-abs, Eq. 27).
    ``normalization`` selects the Table 1 variant (see normalize_embeddings).
    """
    if similarity not in SIMILARITY_TRANSFORMS:
        raise ValueError(f"unknown similarity {similarity!r}; allowed: {', '.join(SIMILARITY_TRANSFORMS)}")
    n = z_a.shape[0]
    views = torch.cat([normalize_embeddings(z_a, normalization), normalize_embeddings(z_b, normalization)])
    logits = SIMILARITY_TRANSFORMS[similarity](views @ views.T) / temperature
    anchors = torch.arange(2 * n, device=views.device)
    partners = (anchors + n) % (2 * n)
    excluded = torch.eye(2 * n, dtype=torch.bool, device=views.device)
    if decoupled:
        excluded[anchors, partners] = True
    positives = logits[anchors, partners]
    denominators = torch.logsumexp(logits.masked_fill(excluded, float("-inf")), dim=1)
    return (denominators - positives).mean()


def spectral_contrastive(z_a: torch.Tensor, z_b: torch.Tensor, *, mu: float) -> torch.Tensor:
    """Spectral Contrastive Loss (Eqs. 18/32): -2 mean_i <k_i, k'_i> + mean_{i!=j} <k_i, k_j>^2.

    The repulsive term is the sample-contrastive criterion L_c averaged over pairs, taken
    within each view and averaged over the two views.  Embeddings are projected onto the
    ball of radius sqrt(mu) (those already inside are left alone, Appendix A).
    """
    radius = math.sqrt(mu)

    def project(z):
        return z * (radius / z.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)

    a, b = project(z_a), project(z_b)
    attraction = -2.0 * (a * b).sum(dim=1).mean()
    repulsion = (off_diagonal(a @ a.T).pow(2).mean() + off_diagonal(b @ b.T).pow(2).mean()) / 2
    return attraction + repulsion


def _variance_hinge(k: torch.Tensor) -> torch.Tensor:
    std = torch.sqrt(k.var(dim=0) + 1e-4)
    return F.relu(1.0 - std).mean()


def _covariance_penalty(k: torch.Tensor, denominator: int, penalty: str, temperature: float | None) -> torch.Tensor:
    k = k - k.mean(dim=0)
    cov = (k.T @ k) / denominator
    if penalty == "squares":
        return off_diagonal(cov).pow(2).sum() / cov.shape[0]
    return torch.logsumexp(off_diagonal(cov / temperature), dim=1).mean() / 2


def vicreg_terms(z_a: torch.Tensor, z_b: torch.Tensor, covariance: str, temperature: float | None,
                 transpose: bool) -> dict[str, torch.Tensor]:
    """The unweighted invariance, variance and covariance terms of the VICReg family
    (see ``vicreg``)."""
    if covariance not in COVARIANCE_PENALTIES:
        raise ValueError(f"unknown covariance penalty {covariance!r}; allowed: {', '.join(COVARIANCE_PENALTIES)}")
    if covariance == "logsumexp" and temperature is None:
        raise ValueError("the logsumexp covariance penalty needs a temperature")
    denominator = z_a.shape[0] - 1
    a, b = (z_a.T, z_b.T) if transpose else (z_a, z_b)
    return {
        "invariance": F.mse_loss(z_a, z_b),
        "variance": (_variance_hinge(a) + _variance_hinge(b)) / 2,
        "covariance": (_covariance_penalty(a, denominator, covariance, temperature)
                       + _covariance_penalty(b, denominator, covariance, temperature)),
    }


def vicreg(z_a: torch.Tensor, z_b: torch.Tensor, *, sim_weight: float, var_weight: float, cov_weight: float,
           covariance: str, temperature: float | None = None,
           transpose: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """VICReg (Eqs. 20-21) and the paper's VICReg-exp / VICReg-ctr (Eqs. 11-13, Algorithms 1-2).

    ``covariance="squares"``: c(K) = sum of squared off-diagonal covariances / D per view
    (L_nc, VICReg).  ``"logsumexp"``: c_exp(K) = mean_i LSE_{j!=i}(C_ij / temperature) / 2
    per view (VICReg-exp; ``temperature`` is used by this penalty only).  ``transpose``
    applies the variance and covariance terms to the transposed matrices (VICReg-ctr,
    sample-contrastive); the covariance keeps the (N - 1) denominator, as printed in
    Algorithm 2.  Returns the weighted total and the unweighted terms.
    """
    terms = vicreg_terms(z_a, z_b, covariance, temperature, transpose)
    total = sim_weight * terms["invariance"] + var_weight * terms["variance"] + cov_weight * terms["covariance"]
    return total, terms


def barlow_twins(z_a: torch.Tensor, z_b: torch.Tensor, *, lambd: float) -> torch.Tensor:
    """Barlow Twins (Eqs. 19/33): sum_j (1 - C_jj)^2 + lambd * sum_{i!=j} C_ij^2.

    C is the cross-correlation of the two views after standardising each dimension over
    the batch (rows of K at norm sqrt(N)).
    """
    n = z_a.shape[0]

    def standardize(z):
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + 1e-5)

    cross = standardize(z_a).T @ standardize(z_b) / n
    on_diagonal = (torch.diagonal(cross) - 1.0).pow(2).sum()
    return on_diagonal + lambd * off_diagonal(cross).pow(2).sum()


def tcr(z_a: torch.Tensor, z_b: torch.Tensor, *, eps: float, inv_weight: float) -> torch.Tensor:
    """Total Coding Rate (Eqs. 22/37) with a cosine invariance term.

    -1/2 logdet(I + alpha Cov(K)) per view, averaged over views, with unit-norm embeddings,
    Cov(K) = K K^T and alpha = D / (N eps^2); plus ``inv_weight`` * (1 - mean cosine of pairs).
    """
    a, b = F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)
    n, d = a.shape
    alpha = d / (n * eps ** 2)
    eye = torch.eye(d, device=a.device, dtype=a.dtype)

    def coding_rate(k):
        return 0.5 * torch.logdet(eye + alpha * (k.T @ k))

    invariance = 1.0 - (a * b).sum(dim=1).mean()
    return inv_weight * invariance - (coding_rate(a) + coding_rate(b)) / 2


def no_self_supervision(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """No self-supervised term (zero, its gradient zero): the supervised ceiling's backbone
    learns from its online probe's cross-entropy on the labels alone (models.ssl_model)."""
    return 0.0 * (z_a.sum() + z_b.sum())
