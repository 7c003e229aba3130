"""Resolving a config's data section to checked .beton files before any compute is spent."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.beton import check_beton
from pipelines.bundled import ensure_bundled_betons
from pipelines.errors import DataError
from tuning.config import PretrainConfig


@dataclass(frozen=True)
class PreparedData:
    """The checked .beton files a run reads (absolute paths) and its number of classes."""
    train: str
    val: str
    num_classes: int


def check_user_data(cfg: PretrainConfig) -> None:
    """Open and check the config's own .beton files, and that train and val share one class
    list (DataError otherwise); writes nothing."""
    if cfg.data.bundled:  # the config allows only both or neither
        return
    train, val = check_beton(cfg.data.train), check_beton(cfg.data.val)
    if train.classes and val.classes and train.classes != val.classes:
        raise DataError(f"{cfg.data.train} and {cfg.data.val} were written with different classes "
                        f"({len(train.classes)} vs {len(val.classes)}, see their .classes.json): "
                        f"the probes would read one split's labels as the other's")


def prepare_data(cfg: PretrainConfig, data_dir: Path) -> PreparedData:
    """The config's data: bundled data sets are written into ``data_dir`` once; user .beton
    files are opened and checked (DataError otherwise)."""
    check_user_data(cfg)  # fail on the user's files before writing anything
    train, val = cfg.data.train, cfg.data.val
    if cfg.data.bundled:
        train, val = (str(path) for path in ensure_bundled_betons(cfg.data.bundled, data_dir, cfg.data.train_subset))
    train_info, val_info = check_beton(train), check_beton(val)
    classes = train_info.classes or val_info.classes
    num_classes = len(classes) if classes else _count_labels(train)
    return PreparedData(train=str(Path(train).resolve()), val=str(Path(val).resolve()), num_classes=num_classes)


def _count_labels(path: str) -> int:
    """1 + the largest label in a .beton without a class-index file."""
    import torch

    from pipelines.loaders import eval_loader

    labels = [y for _, y in eval_loader(path, 512, 8, torch.device("cpu"), train=False)]
    return int(torch.cat(labels).max()) + 1
