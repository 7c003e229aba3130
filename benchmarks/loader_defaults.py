"""The SSL loader on ImageNet-like JPEGs at the writer's defaults: the decode ceiling,
torchvision, and FFCV before and after one decode served both views.

The source is the JPEG folder of the 'writer' section (longest side 375-500 px, 4:3 and
3:4), written at the writer's defaults (longest side 500, quality 90, half the images as
JPEG), and once more as the low-resolution proxy (``--max-resolution 256``) for 128-176 px
searches; at 112 px too, where both crops of more images still hold the output after a
half-scale decode.  On the same files, with the same loader workers and batch, in one
process, each figure the mean over six epochs after an untimed one (page cache; FFCV's
compilation):
decode only (the ceiling: an FFCV pipeline that decodes each image once and crops nothing),
torchvision's ImageFolder DataLoader with its two-crop transform (one decode, two
RandomResizedCrops), FFCV's two-view loader before (a pipeline per view, each decoding every
image), after one decode (``scaled_decode=False``) and after reduced-scale JPEG decoding
(the shipped loader).  FFCV's figures are pairs/s (two views each); 'share of ceiling' is the
shipped loader's pairs/s over the decode-only images/s.  Goals: at least 2x torchvision, and
at least 70% of the ceiling.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from benchmarks.goals import verdict
from benchmarks.loader import TwoCrops, consume, rate, torchvision_batches
from benchmarks.reference_loaders import decode_only_loader, per_view_loader
from benchmarks.writer import make_photos
from pipelines.image_folder import write_image_folder
from pipelines.loaders import ssl_loader

TITLE = "Loader at the writer's defaults: two views from one decode, 160 and 224 px, 1 and 2 workers"
LOADERS = ("decode_only", "torchvision", "ffcv_before", "ffcv_one_decode", "ffcv_scaled")


def measure(folder: Path, beton: Path, resolution: int, workers: int, batch_size: int, epochs: int) -> dict:
    """Images (or pairs) per second of every loader on the same files at one resolution."""
    from torchvision.datasets import ImageFolder

    path, cpu = str(beton), torch.device("cpu")
    dataset = ImageFolder(str(folder), transform=TwoCrops(resolution))
    tv = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     drop_last=True, persistent_workers=True)
    built = {
        "decode_only": decode_only_loader(path, batch_size, workers),
        "ffcv_before": per_view_loader(path, batch_size, resolution, seed=0, workers=workers),
        "ffcv_one_decode": ssl_loader(path, batch_size, resolution, cpu, seed=0, distributed=False, workers=workers,
                                      scaled_decode=False),
        "ffcv_scaled": ssl_loader(path, batch_size, resolution, cpu, seed=0, distributed=False, workers=workers),
    }
    makers = {"torchvision": lambda: torchvision_batches(tv), **{k: (lambda b=b: b) for k, b in built.items()}}
    for make in makers.values():
        consume(make(), None)  # untimed: page cache, worker start, FFCV's compilation
    row = {"resolution": resolution, "workers": workers}
    row.update({name: rate(makers[name], None, epochs) for name in LOADERS})
    row["vs_torchvision"] = row["ffcv_scaled"] / row["torchvision"]
    row["vs_before"] = row["ffcv_scaled"] / row["ffcv_before"]
    row["of_ceiling"] = row["ffcv_scaled"] / row["decode_only"]
    return row


def run(count: int = 480, batch_size: int = 64, epochs: int = 6) -> list[dict]:
    """Each loader at 160 and 224 px with 1 and 2 workers at the defaults (and at 112 px with
    2), and at 160 px on the 256 px proxy; one row each."""
    rows, load_before = [], os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_photos(Path(tmp) / "photos", count)
        betons = {"defaults (500 px)": Path(tmp) / "defaults.beton", "proxy (256 px)": Path(tmp) / "proxy.beton"}
        write_image_folder(folder, betons["defaults (500 px)"], workers=2)
        write_image_folder(folder, betons["proxy (256 px)"], max_resolution=256, workers=2)
        cases = [("defaults (500 px)", r, w) for r in (160, 224) for w in (1, 2)]
        cases += [("defaults (500 px)", 112, 2), ("proxy (256 px)", 160, 2)]
        for written, resolution, workers in cases:
            rows.append({"written": written, **measure(folder, betons[written], resolution, workers, batch_size,
                                                       epochs)})
    for row in rows:
        row["load_before"], row["load_after"] = load_before, os.getloadavg()[0]
    return rows


def report(rows: list[dict]) -> list[str]:
    lines = [f"Load average (1 min) {rows[0]['load_before']:.2f} as the run started, {rows[0]['load_after']:.2f} as "
             "it ended (its own two workers); the figures are meant for otherwise idle cores.", "",
             "| written | views | workers | decode only img/s | torchvision img/s | FFCV before pairs/s | "
             "one decode | + scaled decode (shipped) | vs torchvision | vs before | share of ceiling |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['written']} | {r['resolution']} px | {r['workers']} | {r['decode_only']:.0f} | "
                     f"{r['torchvision']:.0f} | {r['ffcv_before']:.0f} | {r['ffcv_one_decode']:.0f} | "
                     f"{r['ffcv_scaled']:.0f} | **{r['vs_torchvision']:.2f}x** | {r['vs_before']:.2f}x | "
                     f"**{100 * r['of_ceiling']:.0f}%** |")
    defaults = [r for r in rows if r["written"].startswith("defaults") and r["resolution"] in (160, 224)]
    fastest = min(r["vs_torchvision"] for r in defaults)
    lowest = min(r["of_ceiling"] for r in defaults)
    lines += ["", f"Goals at the defaults: at least 2x torchvision: {verdict(fastest >= 2)} "
                  f"(lowest {fastest:.2f}x); pairs/s at least 70% of decode-only images/s: "
                  f"{verdict(lowest >= 0.7)} (lowest {100 * lowest:.0f}%)."]
    return lines + ["", "Where a pair's time goes (one worker, one decode): " + "; ".join(
        f"at {r['resolution']} px, {1e3 / r['ffcv_one_decode']:.2f} ms a pair, of which reading and decoding "
        f"{1e3 / r['decode_only']:.2f} ms and the two crops' resampling (OpenCV INTER_AREA inside FFCV) the other "
        f"{100 * (1 - r['ffcv_one_decode'] / r['decode_only']):.0f}%"
        for r in defaults if r["workers"] == 1) + "."]


if __name__ == "__main__":
    print("\n".join(report(run())))
