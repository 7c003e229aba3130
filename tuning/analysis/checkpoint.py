"""A trained checkpoint's representations and embeddings on fixed samples of test images and of
the train images it fitted on, and the paper's analyses of them (Figs. S2, S4, S5, S8 and
Table S4; see models.analysis)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from models import analysis
from models.duality import duality_report
from models.health import rankme
from models.losses import normalize_embeddings
from pipelines.augment import model_input
from pipelines.loaders import eval_loader, shard_indices
from pipelines.splits import seeded_sample
from tuning.config import PretrainConfig
from tuning.run import checkpoints
from tuning.run.data import prepare_data
from tuning.run.model import build_network

BLOCK = 64  # Fig. S8 shows the first 64 samples and dimensions
Sample = Literal["test", "fit"]  # test images, or the train images the run fitted on (not select)


@dataclass(frozen=True)
class CheckpointOutputs:
    """A checkpoint's outputs for a seeded sample of one split's images (centre crops), the same
    images for every checkpoint of the same data."""
    config: PretrainConfig
    representations: torch.Tensor  # (N, backbone width)
    embeddings: torch.Tensor  # (N, d): the projector's output, what the loss saw
    labels: torch.Tensor


def sample_size(configs: list[PretrainConfig], images: int) -> int:
    """How many images to analyse: at least ``images``, and at least as many as the widest
    representation or embedding among the checkpoints, so that no covariance spectrum (Fig. S5)
    or RankMe is capped by the sample instead of the network."""
    widest = 0
    for cfg in configs:
        network = build_network(cfg, num_classes=1)
        widest = max(widest, network.representation_dim, network.projector[-1].out_features)
    return max(images, widest)


@torch.no_grad()
def checkpoint_outputs(checkpoint_dir: Path, data_dir: Path, images: int, sample: Sample = "test") -> CheckpointOutputs:
    """Representations and embeddings of ``images`` images of ``sample`` (a fixed seeded sample,
    all of them where there are fewer) under the checkpoint's network."""
    cfg = checkpoints.load_checkpoint_config(checkpoint_dir)
    data = prepare_data(cfg, data_dir)
    network = build_network(cfg, data.num_classes)
    network.load_state_dict(checkpoints.load_training_state(checkpoint_dir)["model"])
    network.eval()
    path, indices = ((data.test, shard_indices(data.test, 0, 1, sample=images)) if sample == "test"
                     else (data.train, seeded_sample(data.split().fit, images, seed=0)))
    loader = eval_loader(path, min(images, 512), cfg.data.resolution, torch.device("cpu"), train=False,
                         center_crop_ratio=cfg.data.center_crop_ratio, indices=indices)
    representations, embeddings, labels = [], [], []
    for batch, y in loader:
        representation, embedding, _ = network(model_input(batch))
        representations.append(representation.float())
        embeddings.append(embedding.float())
        labels.append(y)
    return CheckpointOutputs(cfg, torch.cat(representations), torch.cat(embeddings), torch.cat(labels))


@dataclass(frozen=True)
class Analysis:
    """One checkpoint's analyses: numbers (logged as metrics) and the arrays the plots draw."""
    name: str
    metrics: dict[str, float]
    embedding_spectrum: torch.Tensor
    representation_spectrum: torch.Tensor
    negative_cosines: torch.Tensor
    gram: torch.Tensor
    covariance: torch.Tensor
    representation_gram: torch.Tensor  # Fig. S8's representation space: centred over the batch first
    representation_covariance: torch.Tensor


def seen_by_loss(cfg: PretrainConfig, embeddings: torch.Tensor) -> torch.Tensor:
    """The embeddings as the loss compares them: centred or standardised over the batch for
    SimCLR's Table 1 variants (``loss.params.normalization``), as they are otherwise."""
    normalization = cfg.loss.params.get("normalization", "embedding")
    return embeddings if normalization == "embedding" else normalize_embeddings(embeddings.double(), normalization)


def analyze(name: str, outputs: CheckpointOutputs, fit_outputs: CheckpointOutputs,
            table_s4_batch: int = 1024) -> Analysis:
    """One checkpoint's analyses: Figs. S4 and S8 (embeddings, and representations centred over
    the batch) and Table S4 on its first ``table_s4_batch`` embeddings (N = 1024 as in the paper)
    of test images (``outputs``); Fig. S5's spectra and RankMe on train images it fitted on
    (``fit_outputs``: at least as many as the widest dimension, see ``sample_size``)."""
    z, h = outputs.embeddings, outputs.representations
    embedding_spectrum = analysis.covariance_spectrum(fit_outputs.embeddings)
    representation_spectrum = analysis.covariance_spectrum(fit_outputs.representations)
    negatives = analysis.negative_pair_cosines(seen_by_loss(outputs.config, z))
    gram, covariance = analysis.gram_block(z, BLOCK), analysis.covariance_block(z, BLOCK)
    centred = h.double() - h.double().mean(dim=0, keepdim=True)
    representation_gram, representation_covariance = analysis.gram_block(centred, BLOCK), analysis.covariance_block(
        centred, BLOCK)
    metrics = {
        "images": float(len(z)),
        "spectrum_images": float(len(fit_outputs.embeddings)),
        "embedding_dim": float(z.shape[1]),
        "embedding_spectrum_rank": float(analysis.spectrum_rank(embedding_spectrum)),
        "representation_spectrum_rank": float(analysis.spectrum_rank(representation_spectrum)),
        "embedding_rankme": rankme(fit_outputs.embeddings),
        "representation_rankme": rankme(fit_outputs.representations),
        "negative_cosine_mean": float(negatives.mean()),
        "negative_cosine_std": float(negatives.std()),
        "gram_diagonal_dominance": analysis.diagonal_dominance(gram),
        "covariance_diagonal_dominance": analysis.diagonal_dominance(covariance),
        "representation_gram_diagonal_dominance": analysis.diagonal_dominance(representation_gram),
        "representation_covariance_diagonal_dominance": analysis.diagonal_dominance(representation_covariance),
        **{f"table_s4_{k}": v for k, v in duality_report(z[:table_s4_batch]).items()},
    }
    return Analysis(name, metrics, embedding_spectrum, representation_spectrum, negatives, gram, covariance,
                    representation_gram, representation_covariance)


def cka_matrix(outputs: list[CheckpointOutputs]) -> torch.Tensor:
    """Linear CKA between every pair of checkpoints' representations (Fig. S2)."""
    n = len(outputs)
    matrix = torch.ones(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(i + 1, n):
            matrix[i, j] = matrix[j, i] = analysis.linear_cka(outputs[i].representations, outputs[j].representations)
    return matrix
