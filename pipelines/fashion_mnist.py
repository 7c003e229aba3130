"""Fashion-MNIST (70,000 28x28 grayscale images of 10 clothing classes; official 60k train and
10k test split) read from the Debian package ``dataset-fashion-mnist``: a real small data set
on which configurations differ, unlike the digits."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from pipelines.errors import DataError

DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
_IDX_TYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file (the MNIST format: zero bytes, a type code, the number of
    dimensions, big-endian int32 sizes, then the data) as an array."""
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=_IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: {data.size} values for shape {shape}")
    return data.reshape(shape)


def fashion_mnist_split(split: str, root: Path = DEFAULT_ROOT) -> tuple[np.ndarray, np.ndarray]:
    """(images as (N, 28, 28, 3) uint8 RGB, labels as int64) of the official ``train`` or
    ``test`` split; DataError naming the Debian package when its files are missing."""
    image_file, label_file = (Path(root) / name for name in FILES[split])
    missing = [str(p) for p in (image_file, label_file) if not p.is_file()]
    if missing:
        raise DataError(f"Fashion-MNIST is not installed: {', '.join(missing)} missing; install the Debian "
                        f"package with `apt-get install {DEBIAN_PACKAGE}` (`make install` does)")
    gray, labels = read_idx(image_file), read_idx(label_file).astype(np.int64)
    if len(gray) != len(labels):
        raise DataError(f"{image_file} holds {len(gray)} images but {label_file} {len(labels)} labels")
    return np.repeat(gray[..., None], 3, axis=-1), labels
