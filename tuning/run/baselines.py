"""Baselines beside every result: the same offline probes on raw pixels and on the untrained
backbone, so that a pretrained number reads as above or below its input, and above or below
an untrained network.

Both go through ``final_evaluation`` exactly as a pretrained backbone does (the same crops,
normalisation, probe settings, choices on select and scores on test): raw pixels are the
normalised image flattened; the untrained backbone is the config's, built from its seed,
with its BatchNorm statistics estimated on a sample of the fit part of train (as any trained
network's are: with their initial statistics, random features are too small for the linear
probe to move in its epochs, and the baseline would sit at chance for that reason alone).
They depend on the data and on the config's model, resolution, probe and seed only, so they
are cached by the .beton fingerprints and those settings.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from pipelines.augment import model_input
from pipelines.beton import fingerprint
from pipelines.loaders import eval_loader
from pipelines.splits import seeded_sample
from tuning.config import PretrainConfig
from tuning.run import reports
from tuning.run.data import PreparedData
from tuning.run.evaluation import final_evaluation
from tuning.run.model import build_network

REPRESENTATIONS = ("raw_pixels", "untrained")
STATISTICS_IMAGES = 10_000  # train images the untrained backbone's BatchNorm statistics are estimated on
SCORES = (reports.LINEAR_PROBE_TEST_TOP1, reports.KNN_TEST_TOP1)


class RawPixels(nn.Module):
    """The 'backbone' that keeps the normalised image: (B, C, H, W) -> (B, C*H*W)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)


def baseline_representation(name: str, cfg: PretrainConfig, data: PreparedData, device: torch.device) -> nn.Module:
    """Raw pixels, or the config's backbone as its seed initialises it, its BatchNorm
    statistics estimated on train images."""
    if name == "raw_pixels":
        return RawPixels()
    torch.manual_seed(cfg.seed)
    backbone = build_network(cfg, data.num_classes).backbone.to(device)
    return with_data_statistics(backbone, cfg, data, device)


@torch.no_grad()
def with_data_statistics(backbone: nn.Module, cfg: PretrainConfig, data: PreparedData, device: torch.device,
                         images: int = STATISTICS_IMAGES) -> nn.Module:
    """``backbone`` with every BatchNorm's running mean and variance replaced by their average
    over a seeded sample of ``images`` images of the fit part of train (centre crops); weights
    unchanged."""
    norms = [m for m in backbone.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm))]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches
    memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
    fit = seeded_sample(data.split().fit, images, cfg.seed)
    loader = eval_loader(data.train, cfg.probe.offline_batch_size, cfg.data.resolution, device, train=False,
                         workers=cfg.data.loader_workers, center_crop_ratio=cfg.data.center_crop_ratio,
                         indices=fit, torch_threads=cfg.resources.torch_threads)
    backbone.train()
    for batch, _ in loader:
        backbone(model_input(batch, memory_format))
    return backbone.eval()


def measure_baselines(cfg: PretrainConfig, data: PreparedData, device: torch.device) -> dict[str, float]:
    """``reports.baseline_key(representation, score)`` -> top-1 on test, for raw pixels and the
    untrained backbone through the config's offline probe and k-NN (those it runs)."""
    results = {}
    for name in REPRESENTATIONS:
        evaluated = final_evaluation(cfg, data, baseline_representation(name, cfg, data, device), device)
        results.update({reports.baseline_key(name, score): evaluated[score] for score in SCORES if score in evaluated})
    return results


def cache_key(cfg: PretrainConfig, data: PreparedData) -> str:
    """What the baselines depend on: the data's content and the settings that shape the probes' inputs."""
    settings = {"train": fingerprint(data.train), "test": fingerprint(data.test), "seed": cfg.seed,
                "select_per_class": data.select_per_class, "select_seed": data.select_seed,
                "model": cfg.model.model_dump(mode="json"), "probe": cfg.probe.model_dump(mode="json"),
                "resolution": cfg.data.resolution, "center_crop_ratio": cfg.data.center_crop_ratio,
                "crop_scale_min": cfg.data.augment.crop_scale_min, "statistics_images": STATISTICS_IMAGES}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def cached_baselines(cfg: PretrainConfig, data: PreparedData, cache_dir: Path,
                     device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """``measure_baselines``, computed once per data and settings and kept in ``cache_dir``."""
    path = Path(cache_dir) / f"baselines-{cache_key(cfg, data)}.json"
    if path.is_file():
        return json.loads(path.read_text())
    results = reports.tidy(measure_baselines(cfg, data, device))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(results))
    partial.replace(path)
    return results
