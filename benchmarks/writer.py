"""The .beton writer's throughput at its defaults (FFCV's ImageNet recipe: longest side 500 px,
JPEG quality 90, half the images stored as JPEG), projected to ImageNet-1k and ImageNet-100.

The source is a folder of JPEG files generated here at ImageNet's typical sizes (longest
side 375-500 px, 4:3 and 3:4, with smooth structure plus noise so that they compress like
photographs), written once untimed (page cache, compilation), then with 1 and with 2 worker
processes; images/s per worker is the writer's throughput on one core (decoding every image
once to skip corrupt files included).  The projections assume the same per-core rate for the
1,281,167 + 50,000 ImageNet-1k and 126,689 + 5,000 ImageNet-100 images.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.image_folder import write_image_folder

TITLE = "Writer: .beton write throughput at the ImageNet defaults, and projected write times"
SPLITS = {"ImageNet-1k": 1_281_167 + 50_000, "ImageNet-100": 126_689 + 5_000}


def make_photos(root: Path, count: int = 240, classes: int = 4, seed: int = 0) -> Path:
    """``count`` JPEG files (quality 95) of ImageNet-like sizes in ``classes`` folders."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        long_side = int(rng.integers(375, 501))
        height, width = (long_side * 3 // 4, long_side) if i % 2 else (long_side, long_side * 3 // 4)
        coarse = rng.integers(0, 256, (height // 32 + 1, width // 32 + 1, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.int16)
        photo = np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)
        folder = root / f"n{i % classes:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(folder / f"{i}.jpg", quality=95)
    return root


def run(count: int = 240, workers=(1, 2)) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        source = make_photos(Path(tmp) / "photos", count)
        source_mb = sum(p.stat().st_size for p in source.rglob("*.jpg")) / 1e6
        write_image_folder(source, Path(tmp) / "warm-up.beton", workers=1)  # page cache, numba compilation
        for n in workers:
            out = Path(tmp) / f"out{n}.beton"
            start = time.perf_counter()
            summary = write_image_folder(source, out, workers=n, force=True)
            elapsed = time.perf_counter() - start
            rows.append({"workers": n, "images": summary["images"], "seconds": elapsed,
                         "per_worker": summary["images"] / elapsed / n, "mb": summary["bytes"] / 1e6,
                         "source_mb": source_mb})
    return rows


def report(rows: list[dict]) -> list[str]:
    lines = ["| workers | images | seconds | images/s per worker | .beton MB (source JPEG MB) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workers']} | {r['images']} | {r['seconds']:.1f} | **{r['per_worker']:.1f}** | "
                     f"{r['mb']:.1f} ({r['source_mb']:.1f}) |")
    rate = min(r["per_worker"] for r in rows)  # the slower, contended figure
    lines += ["", f"Projected write time at {rate:.1f} images/s per worker (the lower figure above):", "",
              "| data set | images | 1 worker | 16 workers | 64 workers |", "|---|---|---|---|---|"]
    for name, images in SPLITS.items():
        minutes = [images / rate / n / 60 for n in (1, 16, 64)]
        lines.append(f"| {name} | {images:,} | " + " | ".join(f"{m:,.0f} min" for m in minutes) + " |")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
