"""Checkpoint files: plain tensors and numbers, loaded with ``weights_only=True``."""
from __future__ import annotations

import json
from pathlib import Path

import torch

STATE_FILE = "state.pt"
BACKBONE_FILE = "backbone.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


def save_training_state(directory: Path, state: dict, config: dict, metrics: dict | None = None) -> None:
    """Write the resumable training state, its config and the metrics reported with it."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / STATE_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config))
    (directory / METRICS_FILE).write_text(json.dumps(metrics or {}))


def load_metrics(directory: Path) -> dict:
    """The metrics reported together with a checkpoint."""
    path = Path(directory) / METRICS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


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


def latest_checkpoint(train_run_dir: Path) -> Path | None:
    """The newest ``checkpoint_*`` folder of a Ray Train run (their names sort by time)."""
    found = sorted(p for p in Path(train_run_dir).glob("checkpoint_*") if p.is_dir())
    return found[-1] if found else None
