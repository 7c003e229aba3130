"""Class-per-folder image trees (torchvision's ImageFolder layout) as a .beton source.

Every image is decoded once before writing, in parallel: unreadable or corrupt files are
skipped and listed, since FFCV's writer waits forever on a worker that raises.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from pipelines.errors import DataError, OutputExistsError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".gif"}


def _decode(path: str) -> str | None:
    """None if ``path`` decodes fully to RGB, else the reason it does not."""
    try:
        with Image.open(path) as image:
            image.convert("RGB").load()
        return None
    except Exception as error:  # PIL raises many types on damaged files
        return f"{type(error).__name__}: {error}"


@dataclass
class ImageFolderSource:
    """Readable images of ``root/<class>/<image>``, labelled by sorted class name."""
    root: Path
    workers: int = 1
    classes: list[str] = field(default_factory=list)
    samples: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise DataError(f"--source {str(self.root)!r} is not a directory")
        self.classes = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not self.classes:
            raise DataError(f"--source {str(self.root)!r} has no class sub-folders; expected the ImageFolder "
                             "layout ROOT/<class_name>/<image file>")
        candidates = [(str(p), label) for label, name in enumerate(self.classes)
                      for p in sorted((self.root / name).rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not candidates:
            raise DataError(f"--source {str(self.root)!r} has class folders but no image files "
                             f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
        with Pool(self.workers) as pool:
            reasons = pool.map(_decode, [p for p, _ in candidates], chunksize=64)
        self.samples = [c for c, r in zip(candidates, reasons) if r is None]
        self.skipped = [(c[0], r) for c, r in zip(candidates, reasons) if r is not None]
        if not self.samples:
            raise DataError(f"--source {str(self.root)!r}: none of its {len(candidates)} image files could be read")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB")), label


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written there; DataError naming
    the folder otherwise (before any image is decoded)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise DataError(f"cannot write to the output folder {str(folder)!r}: {error.strerror or error}") from None


def write_image_folder(source_dir: Path, out: Path, *, max_resolution: int = 256, jpeg_quality: int = 90,
                       compress_probability: float = 0.5, write_mode: str = "proportion", workers: int = 1,
                       force: bool = False) -> dict:
    """Write an ImageFolder tree to ``out`` and return a summary: images, classes, skipped
    files with reasons, bytes written and images/s."""
    from pipelines.beton import check_write_options, write_beton

    check_write_options(write_mode, max_resolution, jpeg_quality, compress_probability, workers)
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    check_writable_folder(out.parent)
    started = time.perf_counter()
    source = ImageFolderSource(source_dir, workers=workers)
    write_beton(source, out, source.classes, write_mode=write_mode, max_resolution=max_resolution,
                jpeg_quality=jpeg_quality, compress_probability=compress_probability, workers=workers, force=force)
    elapsed = time.perf_counter() - started
    return {"out": str(out), "images": len(source), "classes": len(source.classes), "skipped": source.skipped,
            "bytes": out.stat().st_size, "images_per_s": len(source) / elapsed}
