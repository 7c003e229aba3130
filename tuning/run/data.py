"""Resolving a config's data section to checked .beton files, and its train file's
fit/select split (pipelines.splits), before any compute is spent."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.beton import check_beton
from pipelines.bundled import ensure_bundled_betons
from pipelines.errors import DataError
from pipelines.splits import TrainSplit, beton_labels, train_split
from tuning.config import PretrainConfig

PREPARED_FIELDS = ("data.train", "data.test", "data.train_subset", "data.select_per_class", "data.select_seed")
"""The config paths ``prepare_data`` reads: a campaign prepares its data once, from its base
config, so its trials share these values and cannot vary them."""


@dataclass(frozen=True)
class PreparedData:
    """The checked .beton files a run reads (absolute paths), its number of classes, and how
    its train file splits into fit and select (``data.select_per_class``, ``data.select_seed``)."""
    train: str
    test: str
    num_classes: int
    select_per_class: int
    select_seed: int

    def split(self) -> TrainSplit:
        """Indices of the train file to fit on and to choose on (disjoint)."""
        return train_split(self.train, self.select_per_class, self.select_seed)


def check_user_data(cfg: PretrainConfig) -> None:
    """Open and check the config's own .beton files, and that train and test share one class
    list (DataError otherwise); writes nothing."""
    if cfg.data.bundled:  # the config allows only both or neither
        return
    train, test = check_beton(cfg.data.train), check_beton(cfg.data.test)
    if train.classes and test.classes and train.classes != test.classes:
        raise DataError(f"{cfg.data.train} and {cfg.data.test} were written with different classes "
                        f"({len(train.classes)} vs {len(test.classes)}, see their .classes.json): "
                        f"the probes would read one split's labels as the other's")


def prepare_data(cfg: PretrainConfig, data_dir: Path) -> PreparedData:
    """The config's data: bundled data sets are written into ``data_dir`` once; user .beton
    files are opened and checked; the select split is drawn (DataError when it does not fit)."""
    check_user_data(cfg)  # fail on the user's files before writing anything
    train, test = cfg.data.train, cfg.data.test
    if cfg.data.bundled:
        train, test = (str(path) for path in ensure_bundled_betons(cfg.data.bundled, data_dir, cfg.data.train_subset))
    train_info, test_info = check_beton(train), check_beton(test)
    data = PreparedData(train=str(Path(train).resolve()), test=str(Path(test).resolve()), num_classes=0,
                        select_per_class=cfg.data.select_per_class, select_seed=cfg.data.select_seed)
    data.split()  # DataError naming data.select_per_class when a class is too small for it
    classes = train_info.classes or test_info.classes
    return replace(data, num_classes=len(classes) if classes else int(beton_labels(data.train).max()) + 1)
