"""The data sets dualtune ships or installs, written to .beton once and reused: the digits
(the quick demo) and Fashion-MNIST (the real small-scale benchmark)."""
from __future__ import annotations

from pathlib import Path

from pipelines.beton import ArraySource, write_beton
from pipelines.errors import DataError
from pipelines.splits import balanced_subset

BUNDLED = ("digits", "fashion-mnist")


SUBSET_SEED = 0  # one subset of a size for every run, whatever the run's own seed


def ensure_bundled_betons(name: str, data_dir: str | Path, train_subset: int | None = None) -> tuple[Path, Path]:
    """The (train, test) .beton files of bundled data set ``name`` in ``data_dir``, written on
    first use.  ``train_subset`` keeps that many train images, the same number a class; the
    test split is always whole (for Fashion-MNIST, the official test split)."""
    if name not in BUNDLED:
        raise DataError(f"unknown bundled data set {name!r}; allowed: {', '.join(BUNDLED)}")
    data_dir = Path(data_dir)
    tag = f"{name}_subset{train_subset}" if train_subset else name
    train, test = data_dir / f"{tag}_train.beton", data_dir / f"{name}_test.beton"
    if train.is_file() and test.is_file():
        return train, test
    (x_tr, y_tr), (x_te, y_te), classes = _splits(name)
    if train_subset:
        keep = balanced_subset(y_tr, train_subset, SUBSET_SEED)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    write_beton(ArraySource(x_tr, y_tr), train, classes, force=True)
    if not test.is_file():
        write_beton(ArraySource(x_te, y_te), test, classes, force=True)
    return train, test


def _splits(name: str):
    if name == "digits":
        from pipelines.digits import digits_splits

        return (*digits_splits(32), [str(d) for d in range(10)])
    from pipelines.fashion_mnist import CLASSES, fashion_mnist_split

    return fashion_mnist_split("train"), fashion_mnist_split("test"), list(CLASSES)
