"""End-of-run evaluation on frozen features: the offline linear probe and k-NN (paper App. E, F).

Every choice made after pretraining is made on the select split (pipelines.splits), never
on test: the probe trains heads at several learning rates in one pass on the fit part of
train and keeps the best on select; k-NN, with the fit part as its bank, picks its k and
temperature there.  Test is only scored, with the chosen settings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.probes import choose_head, choose_knn, lr_grid, train_linear_heads
from pipelines.augment import model_input
from pipelines.loaders import Batches, eval_loader
from tuning.config import PretrainConfig, flatten, validate_config, with_overrides
from tuning.errors import ConfigError
from tuning.run import checkpoints, reports
from tuning.run.data import PreparedData, prepare_data
from tuning.run.model import build_network


@torch.no_grad()
def extract_features(backbone: nn.Module, loader: Batches, channels_last: bool,
                     flip_generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen-backbone representations and labels for every sample of an eval loader; each
    image is flipped with probability 0.5 when a ``flip_generator`` is given."""
    backbone.eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    feats, labels = [], []
    for images, y in loader:
        if flip_generator is not None:
            flips = torch.rand(len(images), generator=flip_generator) < 0.5
            images = torch.where(flips.to(images.device)[:, None, None, None], images.flip(-1), images)
        feats.append(backbone(model_input(images, memory_format)).float().cpu())
        labels.append(y.cpu())
    backbone.train()
    return torch.cat(feats), torch.cat(labels)


class Evaluation:
    """The frozen backbone's features of one run's data, and the probes on them."""

    def __init__(self, cfg: PretrainConfig, data: PreparedData, backbone: nn.Module, device: torch.device,
                 center_crop_ratio: float | None = None):
        self.cfg, self.data, self.backbone, self.device = cfg, data, backbone, device
        self.crop = cfg.data.center_crop_ratio if center_crop_ratio is None else center_crop_ratio
        self.loader_options = dict(batch_size=cfg.probe.offline_batch_size, resolution=cfg.data.resolution,
                                   device=device, workers=cfg.data.loader_workers,
                                   torch_threads=cfg.resources.torch_threads, center_crop_ratio=self.crop)
        self.train = self._centre_crops(data.train)
        self.test = self._centre_crops(data.test)
        self.split = data.split()

    def _centre_crops(self, path: str) -> tuple[torch.Tensor, torch.Tensor]:
        loader = eval_loader(path, train=False, **self.loader_options)
        return extract_features(self.backbone, loader, self.cfg.model.channels_last)

    def subset(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and labels of these train samples."""
        chosen = torch.from_numpy(indices)
        return self.train[0][chosen], self.train[1][chosen]

    def epoch_features(self):
        """The probe's training features for each epoch: the cached centre crops, or a fresh
        seeded random-resized crop and flip of every fit image through the backbone."""
        if self.cfg.probe.offline_mode == "cached":
            fit = self.subset(self.split.fit)
            return lambda epoch: fit
        loader = eval_loader(self.data.train, train=True, seed=self.cfg.seed, indices=self.split.fit,
                             crop_scale=(self.cfg.data.augment.crop_scale_min, 1.0), **self.loader_options)

        def augmented(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
            loader.set_epoch(epoch)
            flips = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            return extract_features(self.backbone, loader, self.cfg.model.channels_last, flips)

        return augmented

    def standardizer(self):
        """(features, labels) -> the same with the features standardised by the fit part's
        centre-crop mean and std (``probe.offline_standardize``), else unchanged."""
        if not self.cfg.probe.offline_standardize:
            return lambda features, labels: (features, labels)
        fit = self.subset(self.split.fit)[0]
        mean, std = fit.mean(0), fit.std(0).clamp_min(1e-6)
        return lambda features, labels: ((features - mean) / std, labels)

    def linear_probe(self) -> dict[str, float]:
        probe = self.cfg.probe
        lrs = lr_grid(probe.offline_lr, probe.offline_lr_points, probe.offline_lr_factor)
        scale = self.standardizer()
        epoch_features = self.epoch_features()
        heads = train_linear_heads(lambda epoch: scale(*epoch_features(epoch)), self.train[0].shape[1],
                                   self.data.num_classes, lrs, epochs=probe.offline_epochs,
                                   batch_size=probe.offline_batch_size, seed=self.cfg.seed, device=self.device)
        choice = choose_head(heads, lrs, scale(*self.subset(self.split.select)), scale(*self.test), device=self.device)
        return {reports.LINEAR_PROBE_TEST_TOP1: choice.test_top1, "linear_probe_test_top5": choice.test_top5,
                "linear_probe_lr": choice.lr, reports.LINEAR_PROBE_SELECT_TOP1: choice.select_top1,
                "linear_probe_crop": self.crop}

    def knn(self) -> dict[str, float]:
        choice = choose_knn(self.subset(self.split.fit), self.subset(self.split.select), self.test,
                            self.data.num_classes, device=self.device)
        return {reports.KNN_TEST_TOP1: choice.test_top1, "knn_k": float(choice.k),
                "knn_temperature": choice.temperature, reports.KNN_SELECT_TOP1: choice.select_top1,
                "knn_crop": self.crop}


def crop_choices(cfg: PretrainConfig) -> list[float]:
    """The centre-crop ratios the probes try: ``data.center_crop_ratio``, then each of
    ``probe.center_crop_choices`` not already tried."""
    return list(dict.fromkeys([cfg.data.center_crop_ratio, *cfg.probe.center_crop_choices]))


def final_evaluation(cfg: PretrainConfig, data: PreparedData, backbone: nn.Module, device: torch.device) -> dict:
    """The offline linear probe (``probe.offline_mode``) and k-NN of a frozen backbone, each
    chosen on select and scored on test, at each of ``crop_choices`` when there are several:
    each probe keeps the crop of its best select top-1 (the first tried on ties).  Features
    are kept on the CPU; the probe and the neighbour search run on ``device``."""
    probes = []  # (the probe, the select score it is chosen by)
    if cfg.probe.offline_epochs > 0:
        probes.append((Evaluation.linear_probe, reports.LINEAR_PROBE_SELECT_TOP1))
    if cfg.probe.knn:
        probes.append((Evaluation.knn, reports.KNN_SELECT_TOP1))
    best: dict[str, dict[str, float]] = {}
    for crop in crop_choices(cfg) if probes else []:
        evaluation = Evaluation(cfg, data, backbone, device, center_crop_ratio=crop)
        for run_probe, chosen_by in probes:
            result = run_probe(evaluation)
            if chosen_by not in best or result[chosen_by] > best[chosen_by][chosen_by]:
                best[chosen_by] = result
    return {key: value for result in best.values() for key, value in result.items()}


def evaluate_checkpoint(checkpoint_dir: Path, data_dir: Path, probe_overrides: dict[str, Any],
                        device: torch.device | str = "cpu") -> tuple[PretrainConfig, dict]:
    """The offline probe and k-NN of a saved backbone, with ``probe.*`` settings changed by
    ``probe_overrides`` (dotted keys); returns the config they ran with and the results."""
    others = sorted(key for key in probe_overrides if not key.startswith("probe."))
    if others:
        raise ConfigError(f"eval may change probe.* settings only, not {others}: the rest describe the "
                          "trained backbone")
    trained = checkpoints.load_checkpoint_config(checkpoint_dir)
    cfg = validate_config(with_overrides(trained.model_dump(mode="json"), probe_overrides),
                          source=f"{checkpoint_dir} config with {probe_overrides}")
    data = prepare_data(cfg, data_dir)
    backbone = build_network(cfg, data.num_classes).backbone
    backbone.load_state_dict(checkpoints.load_backbone_weights(Path(checkpoint_dir) / checkpoints.BACKBONE_FILE))
    return cfg, final_evaluation(cfg, data, backbone.to(device), torch.device(device))


def probe_params(cfg: PretrainConfig) -> dict[str, Any]:
    """The probe section as dotted params (what an evaluation ran with)."""
    return flatten({"probe": cfg.probe.model_dump(mode="json")})
