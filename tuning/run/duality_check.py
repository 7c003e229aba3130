"""The paper's Table S4 as a tool: both criteria, the four-norm sums and the Lemma 3.4 bounds
for a trained checkpoint's embeddings on one validation batch."""
from __future__ import annotations

from pathlib import Path

import torch

from models.duality import duality_report
from pipelines.augment import model_input
from pipelines.loaders import eval_loader
from tuning.run import checkpoints
from tuning.run.data import PreparedData, prepare_data
from tuning.run.model import build_network


@torch.no_grad()
def embeddings_of(checkpoint_dir: Path, data_dir: Path, batch_size: int) -> tuple[torch.Tensor, PreparedData]:
    """Embeddings (projector outputs) of the first ``batch_size`` validation images under the
    checkpoint's model, and the data it used."""
    cfg = checkpoints.load_checkpoint_config(checkpoint_dir)
    data = prepare_data(cfg, data_dir)
    network = build_network(cfg, data.num_classes)
    network.load_state_dict(checkpoints.load_training_state(checkpoint_dir)["model"])
    network.eval()
    loader = eval_loader(data.val, batch_size, cfg.data.resolution, torch.device("cpu"), train=False,
                         center_crop_ratio=cfg.data.center_crop_ratio)
    images, _ = next(iter(loader))
    _, embeddings, _ = network(model_input(images))
    return embeddings, data


def run_duality_check(checkpoint_dir: Path, data_dir: Path, batch_size: int = 256) -> dict[str, float]:
    """Table S4's quantities for one checkpoint (see models.duality.duality_report)."""
    embeddings, _ = embeddings_of(checkpoint_dir, data_dir, batch_size)
    return duality_report(embeddings)
