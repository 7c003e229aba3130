"""LARS (You et al. 2017) as used by the paper's protocol (App. D) and VICReg's code."""
from __future__ import annotations

import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """SGD with momentum whose per-tensor step is scaled by eta * ||w|| / ||g + wd w||.

    Parameter groups with ``lars_exclude=True`` (biases and norm layers, see
    ``lars_param_groups``) get neither weight decay nor the trust ratio.
    Update: g <- g + wd w; g <- g * eta ||w|| / ||g|| (when both norms > 0);
    buf <- momentum buf + g; w <- w - lr buf.
    """

    def __init__(self, params, lr: float, weight_decay: float = 1e-6, momentum: float = 0.9, eta: float = 0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta,
                                      lars_exclude=False))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not group["lars_exclude"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(grad)
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm,
                                        torch.ones_like(w_norm))
                    grad = grad.mul(trust)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(grad)
                p.add_(buf, alpha=-group["lr"])
        return loss


def lars_param_groups(module: nn.Module) -> list[dict]:
    """Split parameters: weights (ndim > 1) adapted and decayed; biases and norm params excluded."""
    adapted = [p for p in module.parameters() if p.requires_grad and p.ndim > 1]
    excluded = [p for p in module.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": adapted}, {"params": excluded, "lars_exclude": True, "weight_decay": 0.0}]
