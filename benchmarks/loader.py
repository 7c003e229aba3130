"""Images/s of the FFCV two-view SSL loader vs a torchvision ImageFolder DataLoader.

Same images (the bundled digits at 128 px, three copies of the train split: 4,311 images),
stored as JPEG files for torchvision and as .beton files for FFCV, both JPEG (quality 90,
as for ImageNet) and raw pixels (what ``dualtune data digits`` writes for small images).
Same two random-resized crops per image in the loader, same number of workers, same view
resolution, in one process; the flip and photometric augmentations run after loading for
both ('+ augs' columns; on the device in real runs).  FFCV's first epoch (numba
compilation) is timed separately and excluded from the rates.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.goals import target_line
from pipelines.augment import VIEW_1, VIEW_2, augment_view
from pipelines.digits import digits_splits
from pipelines.image_folder import write_image_folder
from pipelines.loaders import ssl_loader

STORAGE = ("jpg", "raw")

TITLE = "Loader: FFCV two-view vs torchvision ImageFolder DataLoader"

class TwoCrops:
    """torchvision's two-crop transform: one decoded image, two RandomResizedCrops."""

    def __init__(self, resolution: int):
        from torchvision import transforms

        self.view = transforms.Compose([transforms.RandomResizedCrop(resolution, scale=(0.08, 1.0)),
                                        transforms.PILToTensor()])

    def __call__(self, image):
        return self.view(image), self.view(image)


def make_image_folder(root: Path, side: int = 128, copies: int = 3) -> Path:
    """``copies`` of the digits train split as ``root/<digit>/<i>.jpg`` at ``side`` px."""
    (images, labels), _ = digits_splits(resolution=side)
    for i, (image, label) in enumerate(zip(np.tile(images, (copies, 1, 1, 1)), np.tile(labels, copies))):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.jpg", quality=90)
    return root


def consume(batches, generator: torch.Generator | None) -> int:
    """Iterate one epoch; with a generator, also run the flip and photometric augmentations."""
    seen = 0
    for view1, view2, _ in batches:
        if generator is not None:
            augment_view(view1, VIEW_1, generator)
            augment_view(view2, VIEW_2, generator)
        seen += len(view1)
    return seen


def rate(make_batches, generator, epochs: int) -> float:
    start = time.perf_counter()
    images = sum(consume(make_batches(), generator) for _ in range(epochs))
    return images / (time.perf_counter() - start)


def torchvision_batches(loader):
    for (view1, view2), labels in loader:
        yield view1, view2, labels


def measure(folder: Path, betons: dict[str, Path], resolution: int, workers: int, batch_size: int,
            epochs: int) -> dict:
    """Images/s of torchvision and of FFCV on each storage at one resolution, loading alone
    and with the augmentations, each the mean over ``epochs`` after a warm-up epoch."""
    from torchvision.datasets import ImageFolder

    dataset = ImageFolder(str(folder), transform=TwoCrops(resolution))
    tv = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     drop_last=True, persistent_workers=True)
    consume(torchvision_batches(tv), None)
    loaders = {"torchvision": lambda: torchvision_batches(tv)}
    row = {"resolution": resolution}
    for storage, beton in betons.items():
        ffcv = ssl_loader(str(beton), batch_size, resolution, torch.device("cpu"), seed=0, distributed=False,
                          workers=workers)
        start = time.perf_counter()
        consume(ffcv, None)
        row[f"ffcv_{storage}_first_epoch_s"] = time.perf_counter() - start
        loaders[f"ffcv_{storage}"] = lambda ffcv=ffcv: ffcv
    for label, generator in (("load", None), ("augmented", torch.Generator().manual_seed(0))):
        for name, make in loaders.items():
            row[f"{name}_{label}"] = rate(make, generator, epochs)
        for storage in betons:
            row[f"ratio_{storage}_{label}"] = row[f"ffcv_{storage}_{label}"] / row[f"torchvision_{label}"]
    return row


def run(resolutions=(32, 64, 128), workers: int = 2, batch_size: int = 256, epochs: int = 3) -> list[dict]:
    """All loaders at each resolution on the same images; one row per resolution."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_image_folder(Path(tmp) / "digits")
        betons = {}
        for storage in STORAGE:
            betons[storage] = Path(tmp) / f"digits_{storage}.beton"
            write_image_folder(folder, betons[storage], max_resolution=128, write_mode=storage, workers=workers)
        return [measure(folder, betons, r, workers, batch_size, epochs) for r in resolutions]


def report(rows: list[dict]) -> list[str]:
    """A markdown table of ``run``'s rows."""
    lines = ["| views | torchvision img/s | FFCV JPEG img/s | ratio | FFCV raw img/s | ratio | "
             "torchvision + augs | FFCV raw + augs | ratio | FFCV first epoch (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['resolution']} px | {r['torchvision_load']:.0f} | {r['ffcv_jpg_load']:.0f} | "
                     f"{r['ratio_jpg_load']:.2f}x | {r['ffcv_raw_load']:.0f} | **{r['ratio_raw_load']:.2f}x** | "
                     f"{r['torchvision_augmented']:.0f} | {r['ffcv_raw_augmented']:.0f} | "
                     f"{r['ratio_raw_augmented']:.2f}x | {r['ffcv_raw_first_epoch_s']:.1f} |")
    at_64 = next((r for r in rows if r["resolution"] == 64), None)
    if at_64:
        lines += ["", target_line("FFCV at least 3x torchvision at 64 px views",
                                  max(at_64["ratio_raw_load"], at_64["ratio_jpg_load"]) >= 3,
                                  f"raw {at_64['ratio_raw_load']:.2f}x, JPEG {at_64['ratio_jpg_load']:.2f}x")]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print("\n".join(report(run(workers=args.workers, epochs=args.epochs))))


if __name__ == "__main__":
    main()
