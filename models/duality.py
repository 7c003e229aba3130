"""The paper's two criteria, the Theorem 3.3 identity and the Lemma 3.4 bounds (Table S4 as a tool).

Here K is the paper's M x N embedding matrix (M = embedding dimension, N = batch size):
pass ``embeddings.T`` for a (N, D) batch.
"""
from __future__ import annotations

import torch


def _offdiag_sq_norm(gram: torch.Tensor) -> torch.Tensor:
    return gram.pow(2).sum() - torch.diagonal(gram).pow(2).sum()


def sample_contrastive_criterion(k: torch.Tensor) -> torch.Tensor:
    """L_c = ||K^T K - diag(K^T K)||_F^2 (Definition 3.2): off-diagonal Gram energy."""
    return _offdiag_sq_norm(k.T @ k)


def dimension_contrastive_criterion(k: torch.Tensor) -> torch.Tensor:
    """L_nc = ||K K^T - diag(K K^T)||_F^2 (Definition 3.2): off-diagonal covariance energy."""
    return _offdiag_sq_norm(k @ k.T)


def column_norms_fourth(k: torch.Tensor) -> torch.Tensor:
    """sum_i ||K_{.,i}||^4 over the N embeddings (columns)."""
    return k.pow(2).sum(dim=0).pow(2).sum()


def row_norms_fourth(k: torch.Tensor) -> torch.Tensor:
    """sum_j ||K_{j,.}||^4 over the M dimensions (rows)."""
    return k.pow(2).sum(dim=1).pow(2).sum()


def duality_report(embeddings: torch.Tensor) -> dict[str, float]:
    """Table S4 for one (N, D) batch: both criteria, both four-norm sums, Theorem 3.3's gap
    and the Lemma 3.4 bounds computed for column- and row-normalised copies of K."""
    k = embeddings.detach().double().T
    m, n = k.shape
    l_c, l_nc = sample_contrastive_criterion(k), dimension_contrastive_criterion(k)
    cols, rows = column_norms_fourth(k), row_norms_fourth(k)
    k_cols = k / k.norm(dim=0, keepdim=True).clamp_min(1e-12)
    k_rows = k / k.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return {
        "N": float(n),
        "M": float(m),
        "L_c": float(l_c),
        "L_nc": float(l_nc),
        "sum_col_norm4": float(cols),
        "sum_row_norm4": float(rows),
        "theorem33_residual": float((l_nc + rows) - (l_c + cols)),
        "colnorm_sum_row_norm4": float(row_norms_fourth(k_cols)),
        "colnorm_lower_bound": n * n / m,
        "colnorm_upper_bound": float(n * n),
        "rownorm_sum_col_norm4": float(column_norms_fourth(k_rows)),
        "rownorm_lower_bound": m * m / n,
        "rownorm_upper_bound": float(m * m),
    }
