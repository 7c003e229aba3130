"""End-of-run evaluation on frozen features: the offline linear probe and k-NN (paper App. E, F)."""
from __future__ import annotations

import torch
from torch import nn

from models.probes import best_knn_accuracy, train_linear_probe
from pipelines.augment import model_input
from pipelines.loaders import Batches, eval_loader
from tuning.config import PretrainConfig
from tuning.run.data import PreparedData


@torch.no_grad()
def extract_features(backbone: nn.Module, loader: Batches, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-backbone representations and labels for every sample of an eval loader."""
    backbone.eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    feats, labels = [], []
    for images, y in loader:
        feats.append(backbone(model_input(images, memory_format)).float().cpu())
        labels.append(y.cpu())
    backbone.train()
    return torch.cat(feats), torch.cat(labels)


def final_evaluation(cfg: PretrainConfig, data: PreparedData, backbone: nn.Module, device: torch.device) -> dict:
    """Offline linear probe (and k-NN) on frozen features: train split (RRC + flip when
    ``probe.offline_train_augment``), val split (resize + center crop).  Features are kept
    on the CPU; the probe and the neighbour search run on ``device``."""
    common = dict(batch_size=cfg.probe.offline_batch_size, resolution=cfg.data.resolution, device=device,
                  workers=cfg.data.loader_workers, torch_threads=cfg.resources.torch_threads,
                  center_crop_ratio=cfg.data.center_crop_ratio)
    train_x, train_y = extract_features(
        backbone, eval_loader(data.train, train=cfg.probe.offline_train_augment, seed=cfg.seed, **common),
        cfg.model.channels_last)
    val_x, val_y = extract_features(backbone, eval_loader(data.val, train=False, **common),
                                    cfg.model.channels_last)
    results = {}
    if cfg.probe.offline_epochs > 0:
        results.update(train_linear_probe(train_x, train_y, val_x, val_y, data.num_classes,
                                          epochs=cfg.probe.offline_epochs, lr=cfg.probe.offline_lr,
                                          batch_size=cfg.probe.offline_batch_size, seed=cfg.seed,
                                          device=device))
    if cfg.probe.knn:
        results.update(best_knn_accuracy(train_x, train_y, val_x, val_y, data.num_classes, device=device))
    return results
