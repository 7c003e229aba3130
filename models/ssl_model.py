"""The network every method trains: backbone, projector and an online linear probe."""
from __future__ import annotations

import torch
from torch import nn

from models.backbones import build_backbone
from models.projector import build_projector


class SSLModel(nn.Module):
    """backbone -> representation -> projector -> embedding; the probe reads the detached
    representation, so its loss trains the probe alone (stop-gradient, paper App. D)."""

    def __init__(self, backbone: str, projector: str, embedding_dim: int | None, num_classes: int,
                 small_stem: bool = False):
        super().__init__()
        self.backbone, self.representation_dim = build_backbone(backbone, small_stem)
        self.projector = build_projector(self.representation_dim, projector, embedding_dim)
        self.probe = nn.Linear(self.representation_dim, num_classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(representation, embedding, probe logits) for a batch of images."""
        representation = self.backbone(images)
        return representation, self.projector(representation), self.probe(representation.detach())
