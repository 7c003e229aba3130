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
CLASS_LISTS = Path(__file__).resolve().parent / "class_lists"
# FFCV's ImageNet recipe: longest side 500 px, JPEG quality 90, half the images stored as JPEG.
DEFAULT_MAX_RESOLUTION, DEFAULT_JPEG_QUALITY, DEFAULT_COMPRESS_PROBABILITY = 500, 90, 0.5


def read_class_list(path: str | Path) -> list[str]:
    """Class folder names (e.g. WordNet ids), one a line; blank and '#' lines skipped.  A
    shipped list can be named without its folder and suffix (``imagenet100``)."""
    path = Path(path)
    if not path.is_file() and (CLASS_LISTS / f"{path}.txt").is_file():
        path = CLASS_LISTS / f"{path}.txt"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CLASS_LISTS.glob("*.txt")))
        raise DataError(f"classes file {str(path)!r} does not exist (shipped lists: {shipped})")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if not names or repeated:
        raise DataError(f"classes file {str(path)!r} " + (f"repeats {repeated}" if repeated else "lists no class"))
    return names


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
    """Readable images of ``root/<class>/<image>``, labelled by sorted class name, or by the
    position of the class in ``only_classes`` (a subset, e.g. ImageNet-100); at most
    ``max_per_class`` images a class, drawn with ``seed``."""
    root: Path
    workers: int = 1
    only_classes: list[str] | None = None
    max_per_class: int | None = None
    seed: int = 0
    classes: list[str] = field(default_factory=list)
    samples: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise DataError(f"--source {str(self.root)!r} is not a directory")
        folders = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if not folders:
            raise DataError(f"--source {str(self.root)!r} has no class sub-folders; expected the ImageFolder "
                             "layout ROOT/<class_name>/<image file>")
        self.classes = folders if self.only_classes is None else list(self.only_classes)
        missing = sorted(set(self.classes) - set(folders))
        if missing:
            raise DataError(f"--source {str(self.root)!r} has no folder for {len(missing)} listed class(es): "
                            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if self.max_per_class is not None and self.max_per_class < 1:
            raise DataError(f"max per class {self.max_per_class} must be at least 1")
        candidates = [(str(p), label) for label, name in enumerate(self.classes)
                      for p in self._images_of(name)]
        if not candidates:
            raise DataError(f"--source {str(self.root)!r} has class folders but no image files "
                             f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
        with Pool(self.workers) as pool:
            reasons = pool.map(_decode, [p for p, _ in candidates], chunksize=64)
        self.samples = [c for c, r in zip(candidates, reasons) if r is None]
        self.skipped = [(c[0], r) for c, r in zip(candidates, reasons) if r is not None]
        if not self.samples:
            raise DataError(f"--source {str(self.root)!r}: none of its {len(candidates)} image files could be read")

    def _images_of(self, name: str) -> list[Path]:
        images = sorted(p for p in (self.root / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if self.max_per_class is None or len(images) <= self.max_per_class:
            return images
        keep = np.random.default_rng([self.seed, *name.encode()]).choice(len(images), self.max_per_class,
                                                                         replace=False)
        return [images[i] for i in sorted(keep)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        # FFCV's writer draws the JPEG-or-raw choice (write mode 'proportion') from numpy's global
        # generator as it encodes the image just fetched: seeded from (seed, index), the choice is a
        # property of the image, whichever worker writes it, and a second write gives the same file.
        np.random.seed([self.seed, index])
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


def write_image_folder(source_dir: Path, out: Path, *, max_resolution: int = DEFAULT_MAX_RESOLUTION,
                       jpeg_quality: int = DEFAULT_JPEG_QUALITY,
                       compress_probability: float = DEFAULT_COMPRESS_PROBABILITY, write_mode: str = "proportion",
                       workers: int = 1, classes: list[str] | None = None, max_per_class: int | None = None,
                       seed: int = 0, force: bool = False) -> dict:
    """Write an ImageFolder tree (only ``classes``, in that order, when given; at most
    ``max_per_class`` images a class, drawn with ``seed``) to ``out`` and return a summary:
    images, classes, skipped files with reasons, bytes written and images/s."""
    from pipelines.beton import check_write_options, write_beton

    check_write_options(write_mode, max_resolution, jpeg_quality, compress_probability, workers)
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    check_writable_folder(out.parent)
    started = time.perf_counter()
    source = ImageFolderSource(source_dir, workers=workers, only_classes=classes, max_per_class=max_per_class,
                               seed=seed)
    write_beton(source, out, source.classes, write_mode=write_mode, max_resolution=max_resolution,
                jpeg_quality=jpeg_quality, compress_probability=compress_probability, workers=workers, force=force)
    elapsed = time.perf_counter() - started
    return {"out": str(out), "images": len(source), "classes": len(source.classes), "skipped": source.skipped,
            "bytes": out.stat().st_size, "images_per_s": len(source) / elapsed}
