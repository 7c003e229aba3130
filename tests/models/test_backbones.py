"""Backbones: each gives its representation dimension; the small stem keeps the resolution; an unknown name is named."""

import pytest
import torch
from torch import nn

from models.backbones import build_backbone


@pytest.mark.parametrize("name,small_stem,dim", [("small_cnn", False, 256), ("resnet18", True, 512),
                                                 ("resnet50", True, 2048)])
def test_backbones_give_their_representation_dim(name, small_stem, dim):
    net, out_dim = build_backbone(name, small_stem)
    assert out_dim == dim
    assert net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, dim)


def test_small_stem_keeps_resolution_in_the_first_layer():
    net, _ = build_backbone("resnet18", small_stem=True)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity)


def test_unknown_backbone_is_named():
    with pytest.raises(ValueError, match="unknown backbone 'vit'"):
        build_backbone("vit")
