"""Resolving a config's data section to checked .beton files before any compute is spent."""
from __future__ import annotations

from pathlib import Path

from pipelines.beton import check_beton, ensure_digits_betons
from tuning.config import BUNDLED_DATA, PretrainConfig


def check_user_data(cfg: PretrainConfig) -> None:
    """Open and check the config's own .beton files (BetonError otherwise); writes nothing."""
    for user_path in {cfg.data.train, cfg.data.val} - {BUNDLED_DATA}:
        check_beton(user_path)


def prepare_data(cfg: PretrainConfig, data_dir: Path) -> dict:
    """{"train", "val", "num_classes"} for ``cfg``: the bundled digits are written into
    ``data_dir`` once; user .beton files are opened and checked (BetonError otherwise)."""
    check_user_data(cfg)  # fail on the user's files before writing anything
    train, val = cfg.data.train, cfg.data.val
    if BUNDLED_DATA in (train, val):
        digits_train, digits_val = ensure_digits_betons(data_dir)
        train = str(digits_train) if train == BUNDLED_DATA else train
        val = str(digits_val) if val == BUNDLED_DATA else val
    train_info, val_info = check_beton(train), check_beton(val)
    classes = train_info["classes"] or val_info["classes"]
    num_classes = len(classes) if classes else _count_labels(train)
    return {"train": str(Path(train).resolve()), "val": str(Path(val).resolve()), "num_classes": num_classes}


def _count_labels(path: str) -> int:
    """1 + the largest label in a .beton without a class-index file."""
    import torch

    from pipelines.loaders import eval_loader

    labels = [y for _, y in eval_loader(path, 512, 8, torch.device("cpu"), train=False)]
    return int(torch.cat(labels).max()) + 1
