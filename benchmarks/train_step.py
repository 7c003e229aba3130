"""Images/s of the whole pretraining step, and the share of an epoch spent waiting on data.

For each backbone, one process runs two real epochs of the training loop on the bundled
digits at 32 px (the ResNets on the first 256 training images, to keep a CPU epoch short),
and ResNet-18 and ResNet-50 at 160 px (ImageNet stem, bf16 autocast and channels-last, as on
this CPU) on 32 ImageNet-like photos written at the writer's defaults (the 'writer'
section's generator: longest side 500, half JPEG): FFCV two-view loader (one decode per
image), Table S1 augmentations, SimCLR on the global batch, backward, LARS and online probe.
The baseline, in the same process, is the same network's bare forward + backward (same
precision) on a batch already in memory.  The ratio says how much of the model's own speed
the full step keeps; the data-wait fraction (of the second epoch: the first pays FFCV's
compilation) says whether the loader is the bottleneck (target: under 10%).
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.goals import target_line
from benchmarks.writer import make_photos
from pipelines.beton import ArraySource, write_beton
from pipelines.digits import digits_splits
from pipelines.image_folder import write_image_folder
from tuning.config import validate_config
from tuning.run.data import PreparedData, prepare_data
from tuning.run.loop import Pretraining
from tuning.run.sessions import LocalSession

PHOTOS = "photos"  # 32 generated ImageNet-like photos instead of digits
CASES = (  # backbone, small stem, batch size, resolution, training images (None: the whole digits split)
    ("small_cnn", True, 256, 32, None),
    ("resnet18", True, 64, 32, 256),
    ("resnet50", True, 64, 32, 256),
    ("resnet18", False, 16, 160, PHOTOS),
    ("resnet50", False, 16, 160, PHOTOS),
)

TITLE = "Training step: full step vs the bare model, and data wait"

def bare_model_rate(run: Pretraining, batch_size: int, resolution: int, steps: int = 3) -> float:
    """Pairs/s of forward + backward of backbone and projector on two views already in memory on
    the run's device (under its precision)."""
    x = torch.randn(2 * batch_size, 3, resolution, resolution, device=run.device)
    x = x.contiguous(memory_format=run.memory_format)
    network = run.network

    def step():
        network.zero_grad(set_to_none=True)
        with torch.autocast(run.device.type, dtype=run.precision or torch.float32, enabled=run.precision is not None):
            embeddings = network(x)[1]
        embeddings.float().sum().backward()

    step()  # warm-up
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def _subset(data: PreparedData, images: int | str | None, folder: Path) -> PreparedData:
    """The digits train split, its first ``images`` images as a .beton of their own, or the photos."""
    if images is None:
        return data
    if images == PHOTOS:
        beton = folder / "photos.beton"
        if not beton.exists():
            write_image_folder(make_photos(folder / "photos", count=32), beton, workers=2)
        return PreparedData(train=str(beton), test=str(beton), num_classes=4, select_per_class=1, select_seed=0)
    (x, y), _ = digits_splits(32)
    path = write_beton(ArraySource(x[:images], y[:images]), folder / f"digits_first{images}.beton",
                       [str(d) for d in range(10)], force=True)
    return dataclasses.replace(data, train=str(path))


def measure(backbone: str, small_stem: bool, batch_size: int, resolution: int, data: PreparedData,
            threads: int) -> dict:
    """One backbone: full-step images/s over a real epoch, bare-model images/s, data wait."""
    cfg = validate_config({
        "data": {"batch_size": batch_size, "resolution": resolution},
        "model": {"backbone": backbone, "small_stem": small_stem, "projector": "512-512-128",
                  "channels_last": resolution > 32},
        "resources": {"workers": 1, "torch_threads": threads, "precision": "bf16" if resolution > 32 else "fp32"}})
    run = Pretraining(cfg, data, LocalSession())
    run.train_epoch(0)  # FFCV compiles its pipeline during the first epoch
    start = time.perf_counter()
    totals = run.train_epoch(1)
    epoch_time = time.perf_counter() - start
    step_rate = totals.seen / epoch_time
    bare_rate = bare_model_rate(run, batch_size, resolution)
    return {"backbone": backbone, "batch": batch_size, "resolution": resolution, "precision": cfg.resources.precision,
            "step": step_rate,
            "bare": bare_rate, "ratio": step_rate / bare_rate, "data_wait": totals.data_wait_s / epoch_time}


def run(threads: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(validate_config({}), Path(tmp))
        return [measure(backbone, stem, batch, resolution, _subset(data, images, Path(tmp)), threads)
                for backbone, stem, batch, resolution, images in CASES]


def report(rows: list[dict]) -> list[str]:
    lines = ["| backbone | batch x views, px | precision | full step img/s | bare fwd+bwd img/s | step / bare | "
             "data wait (epoch 2) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backbone']} | {r['batch']} x 2, {r['resolution']} | {r['precision']} | {r['step']:.1f} | "
                     f"{r['bare']:.1f} | **{r['ratio']:.2f}** | {100 * r['data_wait']:.1f}% |")
    worst = max(rows, key=lambda r: r["data_wait"])
    return lines + ["", target_line("data wait under 10% of an epoch", worst["data_wait"] < 0.10,
                                    f"worst: {worst['backbone']}, {100 * worst['data_wait']:.1f}%")]


if __name__ == "__main__":
    print("\n".join(report(run())))
