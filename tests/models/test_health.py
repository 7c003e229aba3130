"""Embedding health: the normalised standard deviation and RankMe flag a collapse."""

import torch

from models.health import normalized_embedding_std, rankme


def test_health_flags_collapse():
    spread = torch.randn(256, 32)
    collapsed = torch.randn(1, 32).repeat(256, 1) + 1e-6 * torch.randn(256, 32)
    assert rankme(spread) > 25 and rankme(collapsed) < 3
    assert normalized_embedding_std(spread) > 0.1 > normalized_embedding_std(collapsed)
