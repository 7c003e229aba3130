"""The small digits search space that campaign tests run: one temperature parameter, trials of
one epoch on one worker with a short probe and no k-NN, FIFO.  A test names what it changes."""
from pathlib import Path

import yaml

TEMPERATURE = {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5}}
QUICK = {"schedule.epochs": 1, "data.batch_size": 128, "probe.offline_epochs": 2, "probe.knn": False,
         "resources.workers": 1}


def tiny_space(name: str, *, overrides: dict | None = None, **fields) -> dict:
    """The tiny space named ``name`` as a dict; ``overrides`` are merged into its quick ones and
    ``fields`` set its other keys (num_samples, seed, params, ...)."""
    return {"name": name, "base": "digits-simclr", "num_samples": 1, "scheduler": {"type": "fifo"},
            "overrides": {**QUICK, **(overrides or {})}, "params": TEMPERATURE, **fields}


def write_tiny_space(path: Path, name: str, *, overrides: dict | None = None, **fields) -> Path:
    """``tiny_space`` written to ``path`` as YAML; the path."""
    path.write_text(yaml.safe_dump(tiny_space(name, overrides=overrides, **fields)))
    return path
