"""Checkpoint files: plain tensors and numbers, loaded with ``weights_only=True``."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from tuning.config import PretrainConfig, validate_config
from tuning.errors import StoreError

STATE_FILE = "state.pt"
BACKBONE_FILE = "backbone.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.json"


def save_training_state(directory: Path, state: dict, config: dict, history: list[dict]) -> None:
    """Write the resumable training state, its config, the metrics reported with it (the last of
    ``history``) and every epoch's report so far (``history``)."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / STATE_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    (directory / METRICS_FILE).write_text(json.dumps(history[-1] if history else {}))
    (directory / HISTORY_FILE).write_text(json.dumps(history))


def load_checkpoint_config(directory: Path) -> PretrainConfig:
    """The config a checkpoint was trained with; StoreError if the folder is not a checkpoint."""
    config_file = Path(directory) / CONFIG_FILE
    if not config_file.is_file():
        raise StoreError(f"{directory} is not a dualtune checkpoint (no {CONFIG_FILE}); give a trial's "
                         "checkpoint_* folder")
    return validate_config(json.loads(config_file.read_text()), source=str(config_file))


def load_metrics(directory: Path) -> dict:
    """The metrics reported together with a checkpoint."""
    path = Path(directory) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def load_history(directory: Path) -> list[dict]:
    """Every epoch's report up to a checkpoint's, oldest first (a checkpoint written before
    histories were kept gives its own report alone)."""
    path = Path(directory) / HISTORY_FILE
    if path.is_file():
        return json.loads(path.read_text())
    metrics = load_metrics(directory)
    return [metrics] if metrics else []


def load_training_state(directory: Path) -> dict:
    """Read a training state; refuses pickled objects (``weights_only=True``)."""
    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


def save_backbone(directory: Path, backbone: torch.nn.Module) -> Path:
    """The backbone alone, as safetensors: portable and free of executable code."""
    from safetensors.torch import save_file

    path = Path(directory) / BACKBONE_FILE
    save_file({k: v.detach().contiguous().cpu() for k, v in backbone.state_dict().items()}, str(path))
    return path


def load_backbone_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A backbone state_dict from a safetensors file written by ``save_backbone``."""
    from safetensors.torch import load_file

    return load_file(str(path))


def newest_checkpoint(directory: str | Path, filesystem=None) -> str | None:
    """The ``checkpoint_*`` folder under ``directory`` whose metrics record the latest epoch
    (None if there is none).  ``filesystem`` is a pyarrow filesystem for remote storage."""
    import pyarrow.fs

    filesystem = filesystem or pyarrow.fs.LocalFileSystem()
    selector = pyarrow.fs.FileSelector(str(directory), allow_not_found=True)
    best, best_epoch = None, -1
    for info in filesystem.get_file_info(selector):
        if info.type != pyarrow.fs.FileType.Directory or not info.base_name.startswith("checkpoint_"):
            continue
        try:
            with filesystem.open_input_stream(f"{info.path}/{METRICS_FILE}") as stream:
                epoch = int(json.loads(stream.read()).get("epoch", -1))
        except (OSError, ValueError):  # not one of ours, or still being written
            continue
        if epoch > best_epoch:
            best, best_epoch = info.path, epoch
    return best
