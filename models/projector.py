"""Projectors from the paper's spec strings ("8192-8192-8192", "2048-d", "d-d-d")."""
from __future__ import annotations

import re

from torch import nn

_TOKEN = re.compile(r"^(\d+|d)$")


def parse_projector_spec(spec: str, embedding_dim: int | None = None) -> list[int]:
    """Layer output sizes of a spec "X-Y-Z"; the token ``d`` stands for ``embedding_dim``.

    Raises ValueError naming the spec when it is malformed.
    """
    tokens = spec.strip().split("-") if isinstance(spec, str) else []
    if not tokens or not all(_TOKEN.match(t) for t in tokens):
        raise ValueError(f"malformed projector spec {spec!r}: expected sizes joined by '-', "
                         "each a positive integer or 'd' (e.g. '8192-8192-8192', '2048-d')")
    if "d" in tokens and embedding_dim is None:
        raise ValueError(f"projector spec {spec!r} uses 'd' but model.embedding_dim is not set")
    sizes = [embedding_dim if t == "d" else int(t) for t in tokens]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"malformed projector spec {spec!r}: sizes must be positive")
    return sizes


def build_projector(in_dim: int, spec: str, embedding_dim: int | None = None) -> nn.Sequential:
    """Linear+BatchNorm+ReLU for every layer but the last, which is a bias-free Linear (paper §5)."""
    sizes = parse_projector_spec(spec, embedding_dim)
    layers: list[nn.Module] = []
    for size in sizes[:-1]:
        layers += [nn.Linear(in_dim, size), nn.BatchNorm1d(size), nn.ReLU(inplace=True)]
        in_dim = size
    layers.append(nn.Linear(in_dim, sizes[-1], bias=False))
    return nn.Sequential(*layers)
