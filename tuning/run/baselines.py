"""Baselines beside every result: the same offline probes on raw pixels, on a fixed nonlinear
map of them, on the untrained backbone and (when asked for) on the supervised ceiling, so that
a pretrained number reads against its input, against a classical kernel method, against an
untrained network and against what labels reach.

Each goes through ``final_evaluation`` exactly as a pretrained backbone does (the same crops,
normalisation, probe settings, choices on select and scores on test):
- raw pixels are the normalised image flattened;
- random features are random Fourier features of those pixels (Rahimi and Recht, 2007):
  cos(x W + b) with Gaussian W of bandwidth the median distance between fit images (the
  median heuristic, no labels) and uniform b, so the linear probe on them approximates a
  Gaussian-kernel classifier;
- the untrained backbone is the config's, built from its seed, with its BatchNorm statistics
  estimated on a sample of the fit part of train (as any trained network's are: with their
  initial statistics, random features are too small for the linear probe to move in its
  epochs, and the baseline would sit at chance for that reason alone);
- the supervised ceiling (``probe.supervised_baseline``) is the config trained with method
  ``supervised``: the same backbone, augmentations, epochs, optimiser and data, learning from
  the labels through its online probe's cross-entropy.
The first three depend on the data and on the config's model, resolution, probe and seed
only, the ceiling on the whole config but its loss; each is cached by the .beton fingerprints
and those settings.
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
from tuning.config import PretrainConfig, validate_config, with_overrides
from tuning.run import reports
from tuning.run.data import PreparedData
from tuning.run.evaluation import final_evaluation
from tuning.run.loop import RunRequest, pretrain
from tuning.run.model import build_network
from tuning.run.sessions import LocalSession

REPRESENTATIONS = ("raw_pixels", "random_features", "untrained")  # measured for every campaign
STATISTICS_IMAGES = 10_000  # train images the untrained backbone's BatchNorm statistics are estimated on
RANDOM_FEATURES = 2048  # random Fourier features of the pixels
BANDWIDTH_IMAGES = 1000  # fit images whose median pairwise distance sets their bandwidth
SCORES = (reports.LINEAR_PROBE_TEST_TOP1, reports.KNN_TEST_TOP1)


class RawPixels(nn.Module):
    """The 'backbone' that keeps the normalised image: (B, C, H, W) -> (B, C*H*W)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)


class RandomFourierFeatures(nn.Module):
    """sqrt(2 / F) cos(x W / bandwidth + b) of the flattened image x: W (C*H*W, F) standard
    Gaussian, b uniform on [0, 2 pi), both fixed from ``seed``; inner products of these features
    approximate the Gaussian kernel exp(-|x - y|^2 / (2 bandwidth^2))."""

    def __init__(self, inputs: int, features: int, bandwidth: float, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("weight", torch.randn(inputs, features, generator=generator) / bandwidth)
        self.register_buffer("phase", torch.rand(features, generator=generator) * 2 * torch.pi)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        projected = images.flatten(1).float() @ self.weight + self.phase
        return torch.cos(projected) * (2.0 / self.weight.shape[1]) ** 0.5


def baseline_representation(name: str, cfg: PretrainConfig, data: PreparedData, device: torch.device) -> nn.Module:
    """Raw pixels, random Fourier features of them, or the config's backbone as its seed
    initialises it, its BatchNorm statistics estimated on train images."""
    if name == "raw_pixels":
        return RawPixels()
    if name == "random_features":
        pixels = fit_pixels(cfg, data, device, BANDWIDTH_IMAGES)
        return RandomFourierFeatures(pixels.shape[1], RANDOM_FEATURES, median_distance(pixels), cfg.seed).to(device)
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
    backbone.train()
    for batch, _ in fit_sample_loader(cfg, data, device, images):
        backbone(model_input(batch, memory_format))
    return backbone.eval()


def fit_sample_loader(cfg: PretrainConfig, data: PreparedData, device: torch.device, images: int):
    """A seeded sample of ``images`` images of the fit part of train, as the probes see them (centre crops)."""
    return eval_loader(data.train, cfg.probe.offline_batch_size, cfg.data.resolution, device, train=False,
                       workers=cfg.data.loader_workers, center_crop_ratio=cfg.data.center_crop_ratio,
                       indices=seeded_sample(data.split().fit, images, cfg.seed),
                       torch_threads=cfg.resources.torch_threads)


@torch.no_grad()
def fit_pixels(cfg: PretrainConfig, data: PreparedData, device: torch.device, images: int) -> torch.Tensor:
    """A seeded sample of ``images`` fit images as the probes see them, normalised and flattened."""
    return torch.cat([model_input(batch, torch.contiguous_format).flatten(1).float()
                      for batch, _ in fit_sample_loader(cfg, data, device, images)])


def median_distance(points: torch.Tensor) -> float:
    """The median Euclidean distance between distinct rows of ``points``."""
    distances = torch.cdist(points.double(), points.double())
    return float(distances[torch.triu(torch.ones_like(distances, dtype=torch.bool), diagonal=1)].median())


def measure_baselines(cfg: PretrainConfig, data: PreparedData, device: torch.device) -> dict[str, float]:
    """``reports.baseline_key(representation, score)`` -> top-1 on test, for each of
    ``REPRESENTATIONS`` through the config's offline probe and k-NN (those it runs)."""
    results = {}
    for name in REPRESENTATIONS:
        evaluated = final_evaluation(cfg, data, baseline_representation(name, cfg, data, device), device)
        results.update({reports.baseline_key(name, score): evaluated[score] for score in SCORES if score in evaluated})
    return results


def supervised_config(cfg: PretrainConfig) -> PretrainConfig:
    """``cfg`` with method ``supervised`` (no self-supervised term, the backbone learning from
    the labels), everything else as it is."""
    labelled = with_overrides(cfg.model_dump(mode="json"), {"loss.method": "supervised", "loss.params": {}})
    return validate_config(labelled, source="the supervised ceiling")


def measure_supervised(cfg: PretrainConfig, data: PreparedData) -> dict[str, float]:
    """The supervised ceiling: ``cfg`` trained with labels in this process, through the same
    offline probe and k-NN; ``reports.baseline_key("supervised", score)`` -> top-1 on test."""
    session = LocalSession()
    pretrain(RunRequest(supervised_config(cfg), data, requested_at=0.0), session)
    last = session.reports[-1]
    return {reports.baseline_key("supervised", score): last[score] for score in SCORES if score in last}


def cache_key(cfg: PretrainConfig, data: PreparedData) -> str:
    """What the baselines depend on: the data's content and the settings that shape the probes' inputs."""
    settings = {"train": fingerprint(data.train), "test": fingerprint(data.test), "seed": cfg.seed,
                "select_per_class": data.select_per_class, "select_seed": data.select_seed,
                "model": cfg.model.model_dump(mode="json"), "probe": cfg.probe.model_dump(mode="json"),
                "resolution": cfg.data.resolution, "center_crop_ratio": cfg.data.center_crop_ratio,
                "crop_scale_min": cfg.data.augment.crop_scale_min, "statistics_images": STATISTICS_IMAGES}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def supervised_key(cfg: PretrainConfig, data: PreparedData) -> str:
    """What the supervised ceiling depends on: the data's content and the whole config but its loss."""
    settings = {"train": fingerprint(data.train), "test": fingerprint(data.test), "select_seed": data.select_seed,
                "config": {k: v for k, v in cfg.model_dump(mode="json").items() if k != "loss"}}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def cached_baselines(cfg: PretrainConfig, data: PreparedData, cache_dir: Path,
                     device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """``measure_baselines`` (and ``measure_supervised`` when ``probe.supervised_baseline``),
    each computed once per data and settings and kept in ``cache_dir``."""
    results = _cached(Path(cache_dir) / f"baselines-{cache_key(cfg, data)}.json",
                      lambda: measure_baselines(cfg, data, device))
    if cfg.probe.supervised_baseline:
        results.update(_cached(Path(cache_dir) / f"supervised-{supervised_key(cfg, data)}.json",
                               lambda: measure_supervised(cfg, data)))
    return results


def _cached(path: Path, measure) -> dict[str, float]:
    """The scores kept at ``path``, else ``measure()``'s, tidied and kept there (written whole or not at all)."""
    if path.is_file():
        return json.loads(path.read_text())
    results = reports.tidy(measure())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(results))
    partial.replace(path)
    return results
