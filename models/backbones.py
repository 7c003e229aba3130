"""Backbones: torchvision ResNets without their classifier, and a small conv net for CPU runs."""
from __future__ import annotations

from typing import Literal, get_args

import torchvision
from torch import nn

BackboneName = Literal["small_cnn", "resnet18", "resnet50"]
BACKBONES: tuple[str, ...] = get_args(BackboneName)


def _small_cnn(width: int = 32) -> tuple[nn.Module, int]:
    def block(c_in, c_out, stride):
        return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

    layers = (block(3, width, 1) + block(width, 2 * width, 2)
              + block(2 * width, 4 * width, 2) + block(4 * width, 8 * width, 2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 8 * width


def build_backbone(name: str, small_stem: bool = False) -> tuple[nn.Module, int]:
    """(backbone, representation dim).  ResNet-50 gives the paper's 2048-d representation.

    ``small_stem`` swaps the ResNet stem for a 3x3 stride-1 conv without max-pool, for
    32-64 px images.  ``small_cnn`` is a 4-layer conv net (256-d) for quick CPU runs.
    """
    if name == "small_cnn":
        return _small_cnn()
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; allowed: {', '.join(BACKBONES)}")
    net = getattr(torchvision.models, name)(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    if small_stem:
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    return net, dim
