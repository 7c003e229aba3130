"""Images/s of the FFCV two-view SSL loader vs a torchvision ImageFolder DataLoader.

Same data (the bundled digits written as 128 px JPEGs, as an ImageFolder and as a .beton),
same random-resized crops in the loader, same flip and photometric augmentations applied after loading,
same number of workers, same view resolution, in one process.  Prints the ratio per
resolution; FFCV's first epoch (numba compilation) is timed separately and excluded.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipelines.augment import VIEW_1, VIEW_2, augment_view
from pipelines.digits import digits_splits
from pipelines.image_folder import write_image_folder
from pipelines.loaders import ssl_loader


class _TwoCrops:
    def __init__(self, resolution: int):
        from torchvision import transforms

        self.view = transforms.Compose([transforms.RandomResizedCrop(resolution, scale=(0.08, 1.0)),
                                        transforms.PILToTensor()])

    def __call__(self, image):
        return self.view(image), self.view(image)


def make_image_folder(root: Path, side: int = 128) -> Path:
    """The digits train split as ``root/<digit>/<i>.jpg`` at ``side`` px."""
    (images, labels), _ = digits_splits(resolution=side)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.jpg", quality=90)
    return root


def _consume(batches, generator: torch.Generator | None) -> int:
    """Iterate one epoch; with a generator, also run the photometric augmentations."""
    seen = 0
    for view1, view2, _ in batches:
        if generator is not None:
            augment_view(view1, VIEW_1, generator)
            augment_view(view2, VIEW_2, generator)
        seen += len(view1)
    return seen


def _rate(make_batches, generator, epochs: int) -> float:
    start = time.perf_counter()
    images = sum(_consume(make_batches(), generator) for _ in range(epochs))
    return images / (time.perf_counter() - start)


def _torchvision_batches(loader):
    for (view1, view2), labels in loader:
        yield view1, view2, labels


def measure(folder: Path, beton: Path, resolution: int, workers: int, batch_size: int, epochs: int) -> dict:
    """Images/s of both loaders at one resolution, loading alone and with the photometric
    augmentations, each the mean over ``epochs`` after a warm-up epoch."""
    from torchvision.datasets import ImageFolder

    generator = torch.Generator().manual_seed(0)
    ffcv = ssl_loader(str(beton), batch_size, resolution, torch.device("cpu"), seed=0, distributed=False,
                      workers=workers)
    start = time.perf_counter()
    _consume(ffcv, None)
    ffcv_first_epoch = time.perf_counter() - start
    dataset = ImageFolder(str(folder), transform=_TwoCrops(resolution))
    tv = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     drop_last=True, persistent_workers=True)
    _consume(_torchvision_batches(tv), None)
    row = {"resolution": resolution, "ffcv_first_epoch_s": ffcv_first_epoch}
    for label, gen in (("load", None), ("augmented", generator)):
        row[f"ffcv_{label}"] = _rate(lambda: ffcv, gen, epochs)
        row[f"torchvision_{label}"] = _rate(lambda: _torchvision_batches(tv), gen, epochs)
        row[f"ratio_{label}"] = row[f"ffcv_{label}"] / row[f"torchvision_{label}"]
    return row


def run(resolutions=(32, 64, 128), workers: int = 2, batch_size: int = 256, epochs: int = 3) -> list[dict]:
    """Both loaders at each resolution on the same data; returns one row per resolution."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_image_folder(Path(tmp) / "digits")
        beton = Path(tmp) / "digits.beton"
        write_image_folder(folder, beton, max_resolution=128, write_mode="jpg", workers=workers)
        return [measure(folder, beton, r, workers, batch_size, epochs) for r in resolutions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    for line in format_rows(run(workers=args.workers, epochs=args.epochs)):
        print(line)


def format_rows(rows: list[dict]) -> list[str]:
    """A markdown table of ``run``'s rows."""
    lines = ["| views | FFCV load img/s | torchvision load img/s | ratio | FFCV + augs img/s | "
             "torchvision + augs img/s | ratio | FFCV first epoch (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['resolution']} px | {r['ffcv_load']:.0f} | {r['torchvision_load']:.0f} | "
                     f"**{r['ratio_load']:.2f}x** | {r['ffcv_augmented']:.0f} | {r['torchvision_augmented']:.0f} | "
                     f"{r['ratio_augmented']:.2f}x | {r['ffcv_first_epoch_s']:.1f} |")
    return lines


if __name__ == "__main__":
    main()
