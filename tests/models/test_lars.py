"""LARS: one step against a hand computation; biases and norms are left out of its adaptation."""

import torch
from torch import nn

from models.lars import LARS, lars_param_groups


def test_lars_step_matches_hand_computation():
    torch.manual_seed(0)
    weight = nn.Parameter(torch.randn(3, 4))
    bias = nn.Parameter(torch.randn(3))
    weight.grad, bias.grad = torch.randn(3, 4), torch.randn(3)
    w0, b0, gw, gb = weight.detach().clone(), bias.detach().clone(), weight.grad.clone(), bias.grad.clone()
    module = nn.Module()
    module.weight, module.bias = weight, bias
    opt = LARS(lars_param_groups(module), lr=0.5, weight_decay=0.01, momentum=0.9, eta=0.02)
    opt.step()
    g = gw + 0.01 * w0
    trust = 0.02 * w0.norm() / g.norm()
    torch.testing.assert_close(weight.detach(), w0 - 0.5 * trust * g)
    torch.testing.assert_close(bias.detach(), b0 - 0.5 * gb)  # bias: no decay, no trust ratio
    # second step uses momentum: buf = 0.9 * buf + g'
    buf_w = trust * g
    weight.grad = gw.clone()
    w1 = weight.detach().clone()
    opt.step()
    g2 = gw + 0.01 * w1
    buf_w = 0.9 * buf_w + 0.02 * w1.norm() / g2.norm() * g2
    torch.testing.assert_close(weight.detach(), w1 - 0.5 * buf_w)


def test_lars_groups_exclude_biases_and_norms():
    groups = lars_param_groups(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    assert [p.ndim for p in groups[0]["params"]] == [2]
    assert sorted(p.ndim for p in groups[1]["params"]) == [1, 1, 1]
    assert groups[1]["lars_exclude"] and groups[1]["weight_decay"] == 0.0
