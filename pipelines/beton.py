"""Writing and checking .beton files: an image field and an int label field.

Writes are atomic (a temporary name, renamed when complete) and never replace an existing
file unless asked; a class-index file is written beside each .beton.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pipelines.errors import DataError, OutputExistsError

FIELDS = ("image", "label")
WRITE_MODES = ("raw", "jpg", "proportion", "smart")


@dataclass(frozen=True)
class BetonInfo:
    """What ``check_beton`` found: the file, its sample count and fields, and its class
    names (None when no class-index file lies beside it)."""
    path: str
    num_samples: int
    fields: list[str]
    classes: list[str] | None


class ArraySource:
    """An indexable (image, label) source over in-memory (N, H, W, 3) uint8 images."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])


def classes_path(beton: str | Path) -> Path:
    """Where the class-index file of a .beton lives: ``X.beton`` -> ``X.classes.json``."""
    beton = Path(beton)
    return beton.with_name(beton.stem + ".classes.json")


def check_write_options(write_mode: str, max_resolution: int | None, jpeg_quality: int,
                        compress_probability: float, workers: int) -> None:
    """DataError naming the first writer option out of its allowed range (FFCV would fail
    late, or silently clamp, on these)."""
    if write_mode not in WRITE_MODES:
        raise DataError(f"write mode {write_mode!r} is not one of {', '.join(WRITE_MODES)}")
    if max_resolution is not None and max_resolution < 1:
        raise DataError(f"max resolution {max_resolution} must be a positive number of pixels")
    if not 1 <= jpeg_quality <= 100:
        raise DataError(f"JPEG quality {jpeg_quality} must be between 1 and 100")
    if not 0.0 <= compress_probability <= 1.0:
        raise DataError(f"compress probability {compress_probability} must be between 0 and 1")
    if workers < 1:
        raise DataError(f"workers {workers} must be at least 1")


def write_beton(source, out: str | Path, classes: Sequence[str], *, write_mode: str = "raw",
                max_resolution: int | None = None, jpeg_quality: int = 90,
                compress_probability: float = 0.5, workers: int = 1, force: bool = False) -> Path:
    """Write ``source`` (indexable, items (HWC uint8 image or PIL image, int label)) to ``out``.

    ``write_mode`` is FFCV's: raw | jpg | proportion | smart.  Refuses to overwrite unless
    ``force``; an interrupted write leaves no file under ``out``.
    """
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter

    check_write_options(write_mode, max_resolution, jpeg_quality, compress_probability, workers)
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass force=True (--force) to overwrite it")
    if len(source) == 0:
        raise DataError("nothing to write: the source has no images")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    image_field = RGBImageField(write_mode=write_mode, max_resolution=max_resolution,
                                jpeg_quality=jpeg_quality, compress_probability=compress_probability)
    try:
        DatasetWriter(str(partial), {"image": image_field, "label": IntField()},
                      num_workers=workers).from_indexed_dataset(source)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    classes_path(out).write_text(json.dumps(list(classes)))
    return out


def check_beton(path: str | Path) -> BetonInfo:
    """Open a .beton's header and tables; DataError if missing, corrupt or lacking the
    ``image`` and ``label`` fields."""
    from ffcv.reader import Reader

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not a .beton file; write an image folder to one with "
                         f"`dualtune data write --source {path} --out FILE.beton`")
    if not path.is_file():
        raise DataError(f".beton file {str(path)!r} does not exist (write one with `dualtune data write`)")
    try:
        reader = Reader(str(path))
        num_samples = int(reader.num_samples)
        reader.alloc_table  # noqa: B018 - read eagerly above; raises if the table is cut short
    except Exception as error:  # FFCV raises assorted errors on damaged files
        raise DataError(f".beton file {str(path)!r} is corrupt or truncated: {error}") from None
    missing = [f for f in FIELDS if f not in reader.field_names]
    if missing:
        raise DataError(f".beton file {str(path)!r} has fields {reader.field_names}; "
                         f"dualtune needs {list(FIELDS)} (missing {missing})")
    if num_samples == 0:
        raise DataError(f".beton file {str(path)!r} holds no samples")
    table = reader.alloc_table
    expected_bytes = int(table["ptr"].max() + table["size"][table["ptr"].argmax()])
    if path.stat().st_size < expected_bytes:
        raise DataError(f".beton file {str(path)!r} is truncated: {path.stat().st_size} bytes, "
                         f"its tables point to {expected_bytes}")
    cls_file = classes_path(path)
    classes = json.loads(cls_file.read_text()) if cls_file.is_file() else None
    return BetonInfo(str(path), num_samples, list(reader.field_names), classes)


FINGERPRINT_BLOCK = 1 << 16
FINGERPRINT_SAMPLES = 16


def fingerprint(path: str | Path) -> str:
    """A content fingerprint of a .beton that costs a few reads whatever its size: SHA-256
    over its size, its first and last 64 KiB (header, allocation table) and 16 blocks at
    evenly spaced offsets; 16 hex digits."""
    import hashlib

    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    offsets = {0, max(0, size - FINGERPRINT_BLOCK),
               *(size * k // (FINGERPRINT_SAMPLES + 1) for k in range(1, FINGERPRINT_SAMPLES + 1))}
    with path.open("rb") as f:
        for offset in sorted(offsets):
            f.seek(offset)
            digest.update(f.read(FINGERPRINT_BLOCK))
    return digest.hexdigest()[:16]
