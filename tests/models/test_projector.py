"""The projector: paper spec strings (8192-8192-d, 2048-d, d-d-d) parsed, malformed ones named,
layers as the paper builds them."""

import pytest
import torch
from torch import nn

from models.projector import build_projector, parse_projector_spec


@pytest.mark.parametrize("spec,dim,sizes", [("8192-8192-8192", None, [8192, 8192, 8192]),
                                             ("2048-d", 256, [2048, 256]), ("d-d-d", 64, [64, 64, 64]),
                                             ("128", None, [128])])
def test_projector_specs_parse(spec, dim, sizes):
    assert parse_projector_spec(spec, dim) == sizes


@pytest.mark.parametrize("spec", ["", "8192--8192", "2048-x", "-1-2", "2048-0", "1.5-2", None])
def test_malformed_projector_specs_are_named(spec):
    with pytest.raises(ValueError, match="projector spec"):
        parse_projector_spec(spec, 16)


def test_d_without_embedding_dim_is_an_error():
    with pytest.raises(ValueError, match="uses 'd' but model.embedding_dim is not set"):
        parse_projector_spec("2048-d")


def test_projector_layers_follow_the_paper():
    proj = build_projector(32, "64-48-16")
    kinds = [type(m) for m in proj]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert proj[-1].bias is None and proj[-1].out_features == 16
    assert proj(torch.randn(5, 32)).shape == (5, 16)
