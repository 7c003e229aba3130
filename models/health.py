"""Embedding-health statistics that flag collapse early."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rankme(embeddings: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values."""
    s = torch.linalg.svdvals(embeddings.detach().float())
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * torch.log(p)).sum()))


def normalized_embedding_std(embeddings: torch.Tensor) -> float:
    """Mean over dimensions of the batch std of unit-norm embeddings: 0 when collapsed,
    about 1/sqrt(D) when spread over the sphere."""
    return float(F.normalize(embeddings.detach().float(), dim=1).std(dim=0).mean())
