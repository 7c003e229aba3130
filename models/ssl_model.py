"""The network every method trains: backbone, projector and online linear probes."""
from __future__ import annotations

import torch
from torch import nn

from models.backbones import build_backbone
from models.projector import build_projector


class SSLModel(nn.Module):
    """backbone -> representation -> projector -> embedding.

    The online probes read detached inputs, so their loss trains the probes alone
    (stop-gradient, paper App. D), unless ``supervised``: then ``online``'s cross-entropy on the
    labels also trains the backbone (the supervised ceiling). ``online`` reads the
    representation (the paper's metric), ``online_bn`` the representation through a non-affine
    BatchNorm (a scale-free input, for a rung metric that does not wait for the probe to catch
    up with the backbone), and
    ``online_embedding`` (when ``embedding_probe``) the embedding.
    """

    def __init__(self, backbone: str, projector: str, embedding_dim: int | None, num_classes: int,
                 small_stem: bool = False, embedding_probe: bool = False, supervised: bool = False):
        super().__init__()
        self.supervised = supervised
        self.backbone, self.representation_dim = build_backbone(backbone, small_stem)
        self.projector = build_projector(self.representation_dim, projector, embedding_dim)
        self.probes = nn.ModuleDict({
            "online": nn.Linear(self.representation_dim, num_classes),
            "online_bn": nn.Sequential(nn.BatchNorm1d(self.representation_dim, affine=False),
                                       nn.Linear(self.representation_dim, num_classes))})
        if embedding_probe:
            self.probes["online_embedding"] = nn.Linear(self.projector[-1].out_features, num_classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(representation, embedding, {probe name: logits}) for a batch of images."""
        representation = self.backbone(images)
        embedding = self.projector(representation)
        inputs = {"online": representation if self.supervised else representation.detach(),
                  "online_bn": representation.detach(),
                  "online_embedding": embedding.detach()}
        return representation, embedding, {name: probe(inputs[name]) for name, probe in self.probes.items()}
