"""The learning-rate schedule: warm-up then cosine, at chosen steps, and the batch scaling rules."""
import math

import pytest

from models.schedules import scaled_lr, warmup_cosine


def test_schedule_values_at_chosen_steps():
    assert scaled_lr(0.5, 2048) == 4.0
    assert scaled_lr(0.075, 256, "sqrt") == pytest.approx(1.2) and scaled_lr(0.075, 4096, "sqrt") == pytest.approx(4.8)
    with pytest.raises(ValueError, match="unknown lr scaling rule 'cubic'; allowed: linear, sqrt"):
        scaled_lr(0.1, 256, "cubic")
    peak, total, warm = 4.0, 1000, 100
    assert warmup_cosine(0, total, warm, peak) == pytest.approx(0.04)
    assert warmup_cosine(49, total, warm, peak) == pytest.approx(2.0)
    assert warmup_cosine(100, total, warm, peak) == pytest.approx(4.0)
    mid = 0.004 + (4.0 - 0.004) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert warmup_cosine(550, total, warm, peak) == pytest.approx(mid)
    assert warmup_cosine(1000, total, warm, peak) == pytest.approx(0.004)
