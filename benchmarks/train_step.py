"""Images/s of the whole pretraining step, and the share of an epoch spent waiting on data.

For each backbone, one process runs real epochs of the training loop on the bundled digits
(FFCV two-view loader, Table S1 augmentations, SimCLR on the global batch, backward, LARS,
online probe) and, as the baseline, the same network's bare forward + backward on a batch
already in memory.  The ratio says how much of the model's own speed the full step keeps;
the data-wait fraction (of the second epoch: the first pays FFCV's compilation) says
whether the loader is the bottleneck (target: under 10%).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from tuning.config import validate_config
from tuning.data import prepare_data
from tuning.sessions import TuneTrialSession
from tuning.train_loop import Pretraining

CASES = (  # backbone, small stem, batch size, resolution
    ("small_cnn", True, 256, 32),
    ("resnet18", True, 128, 32),
    ("resnet50", True, 64, 32),
)


def _bare_model_rate(run: Pretraining, batch_size: int, resolution: int, steps: int = 3) -> float:
    """Images/s of forward + backward of backbone and projector on in-memory views."""
    x = torch.randn(2 * batch_size, 3, resolution, resolution).contiguous(memory_format=run.memory_format)
    net = run.net
    net(x)[1].sum().backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        net.zero_grad(set_to_none=True)
        net(x)[1].sum().backward()
    return steps * batch_size / (time.perf_counter() - start)


def measure(backbone: str, small_stem: bool, batch_size: int, resolution: int, data: dict, threads: int) -> dict:
    """One backbone: full-step images/s over a real epoch, bare-model images/s, data wait."""
    cfg = validate_config({
        "data": {"batch_size": batch_size, "resolution": resolution},
        "model": {"backbone": backbone, "small_stem": small_stem, "projector": "512-512-128",
                  "channels_last": False},
        "resources": {"workers": 1, "torch_threads": threads}})
    run = Pretraining(cfg, data, TuneTrialSession(use_gpu=False))
    run.train_epoch(0)  # FFCV compiles its pipeline during the first epoch
    start = time.perf_counter()
    totals = run.train_epoch(1)
    epoch_time = time.perf_counter() - start
    step_rate = totals.seen / epoch_time
    bare_rate = _bare_model_rate(run, batch_size, resolution)
    return {"backbone": backbone, "batch": batch_size, "resolution": resolution, "step": step_rate,
            "bare": bare_rate, "ratio": step_rate / bare_rate, "data_wait": totals.data_wait_s / epoch_time}


def run(threads: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(validate_config({}), Path(tmp))
        return [measure(*case, data, threads) for case in CASES]


def format_rows(rows: list[dict]) -> list[str]:
    lines = ["| backbone | batch x views, px | full step img/s | bare fwd+bwd img/s | step / bare | "
             "data wait (epoch 2) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backbone']} | {r['batch']} x 2, {r['resolution']} | {r['step']:.0f} | {r['bare']:.0f} | "
                     f"**{r['ratio']:.2f}** | {100 * r['data_wait']:.1f}% |")
    return lines


if __name__ == "__main__":
    print("\n".join(format_rows(run())))
