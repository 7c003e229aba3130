"""The loader comparison of the 'loader' section, repeated at the writer's new defaults with
ImageNet-like images: the JPEG folder of the 'writer' section (longest side 375-500 px)
written at its defaults (longest side 500, quality 90, half the images as JPEG), two views
at 160 and at 224 px.  FFCV's two-view SSL loader against torchvision's ImageFolder
DataLoader on the same files, with the same workers and batch, in one process; '+ augs'
adds the flip and photometric augmentations after loading for both.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.loader import measure
from benchmarks.writer import make_photos
from pipelines.image_folder import write_image_folder

TITLE = "Loader at the writer's defaults: ImageNet-like images, 160 and 224 px views"


def run(resolutions=(160, 224), count: int = 480, workers: int = 2, batch_size: int = 64,
        epochs: int = 2) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_photos(Path(tmp) / "photos", count)
        beton = Path(tmp) / "photos.beton"
        write_image_folder(folder, beton, workers=workers)
        return [measure(folder, {"defaults": beton}, r, workers, batch_size, epochs) for r in resolutions]


def report(rows: list[dict]) -> list[str]:
    lines = ["| views | torchvision img/s | FFCV img/s | ratio | torchvision + augs | FFCV + augs | ratio | "
             "FFCV first epoch (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['resolution']} px | {r['torchvision_load']:.0f} | {r['ffcv_defaults_load']:.0f} | "
                     f"**{r['ratio_defaults_load']:.2f}x** | {r['torchvision_augmented']:.0f} | "
                     f"{r['ffcv_defaults_augmented']:.0f} | {r['ratio_defaults_augmented']:.2f}x | "
                     f"{r['ffcv_defaults_first_epoch_s']:.1f} |")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
