"""Learning-rate schedule of the paper's protocol: linear warmup then cosine, per step."""
from __future__ import annotations

import math


def scaled_lr(base_lr: float, global_batch_size: int, rule: str = "linear") -> float:
    """The peak lr for a global batch: ``linear``, base_lr * batch_size / 256 (the paper's App. D);
    ``sqrt``, base_lr * sqrt(batch_size) (SimCLR's rule for small batches, 0.075 * sqrt(batch))."""
    if rule == "sqrt":
        return base_lr * math.sqrt(global_batch_size)
    if rule == "linear":
        return base_lr * global_batch_size / 256
    raise ValueError(f"unknown lr scaling rule {rule!r}; allowed: linear, sqrt")


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, peak_lr: float,
                  final_lr_ratio: float = 0.001) -> float:
    """Linear warmup from peak/warmup_steps to peak, then cosine decay to peak * final_lr_ratio."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    final_lr = peak_lr * final_lr_ratio
    return final_lr + (peak_lr - final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
