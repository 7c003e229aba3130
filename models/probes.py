"""Linear probes and k-NN evaluation of frozen representations (paper App. E and F).

Choices made after pretraining (the probe's learning rate, k-NN's k and temperature) are
made on the select split, held out of train (pipelines.splits): several heads train at once
on the same features, the best on select is kept, and only it is scored on test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from models.schedules import scaled_lr, warmup_cosine

KNN_KS = (1, 5, 10, 20, 50, 200)
KNN_TEMPERATURES = (0.05, 0.07, 0.1, 0.2, 0.5, 1.0)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """Number of samples whose label is among the top-k logits, for each k (capped at #classes)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return {k: int(hits[:, :k].any(dim=1).sum()) for k in ks}


def lr_grid(centre: float, points: int, factor: float = 2.0) -> tuple[float, ...]:
    """``points`` learning rates spaced by ``factor`` on a log scale around ``centre``."""
    half = (points - 1) / 2
    return tuple(centre * factor ** (i - half) for i in range(points))


class LinearHeads(nn.Module):
    """Several linear classifiers over the same features, one per learning rate."""

    def __init__(self, dim: int, num_classes: int, count: int):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(dim, num_classes) for _ in range(count))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(heads, N, classes) logits."""
        return torch.stack([head(x) for head in self.heads])


EpochFeatures = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


def train_linear_heads(epoch_features: EpochFeatures, dim: int, num_classes: int, lrs: tuple[float, ...],
                       epochs: int, batch_size: int, weight_decay: float = 1e-6, seed: int = 0,
                       device: torch.device | str = "cpu") -> LinearHeads:
    """One linear head per lr in ``lrs``, trained together on the features
    ``epoch_features(epoch)`` gives for each epoch (the same cached features every epoch, or
    fresh augmented ones): SGD momentum 0.9, cosine schedule, lr scaled by batch / 256 (App. E).
    Features stay where they are and move to ``device`` a batch at a time."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the heads' initial weights follow ``seed`` alone
        torch.manual_seed(seed)
        heads = LinearHeads(dim, num_classes, len(lrs)).to(device)
    peaks = [scaled_lr(lr, batch_size) for lr in lrs]
    optimizer = torch.optim.SGD([{"params": head.parameters(), "lr": peak} for head, peak in zip(heads.heads, peaks)],
                                momentum=0.9, weight_decay=weight_decay)
    step, total = 0, None
    for epoch in range(epochs):
        features, labels = epoch_features(epoch)
        steps_per_epoch = max(1, math.ceil(len(features) / batch_size))
        total = total or epochs * steps_per_epoch
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(features), batch_size):
            idx = order[start:start + batch_size]
            for group, peak in zip(optimizer.param_groups, peaks):
                group["lr"] = warmup_cosine(step, total, 0, peak, final_lr_ratio=0.0)
            logits = heads(features[idx].to(device, non_blocking=True))
            target = labels[idx].to(device, non_blocking=True)
            loss = sum(F.cross_entropy(head_logits, target) for head_logits in logits)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return heads


@torch.no_grad()
def head_hits(heads: LinearHeads, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 4096,
              device: torch.device | str = "cpu") -> list[dict[int, int]]:
    """Each head's top-1 and top-5 hit counts on (features, labels)."""
    totals = [{1: 0, 5: 0} for _ in heads.heads]
    for chunk, target in zip(features.split(batch_size), labels.split(batch_size)):
        for total, logits in zip(totals, heads(chunk.to(device)).cpu()):
            for k, count in topk_correct(logits, target).items():
                total[k] += count
    return totals


@dataclass(frozen=True)
class ProbeChoice:
    """The head chosen on the select split, and its accuracies (%)."""
    lr: float
    select_top1: float
    test_top1: float
    test_top5: float


def choose_head(heads: LinearHeads, lrs: tuple[float, ...], select: tuple[torch.Tensor, torch.Tensor],
                test: tuple[torch.Tensor, torch.Tensor], device: torch.device | str = "cpu") -> ProbeChoice:
    """The head with the best top-1 on select (the smaller lr on ties), scored on test."""
    chosen_on = head_hits(heads, *select, device=device)
    best = max(range(len(lrs)), key=lambda i: (chosen_on[i][1], -lrs[i]))
    test_hits = head_hits(heads, *test, device=device)[best]
    return ProbeChoice(lr=lrs[best], select_top1=100.0 * chosen_on[best][1] / len(select[1]),
                       test_top1=100.0 * test_hits[1] / len(test[1]), test_top5=100.0 * test_hits[5] / len(test[1]))


def nearest_neighbours(train_x: torch.Tensor, query_x: torch.Tensor, k: int, max_elements: int = 2 ** 26,
                       device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and train indices of each query's ``k`` nearest train
    samples, most similar first, computed on ``device`` and returned on the CPU.  Query rows
    go in chunks whose similarity block holds at most ``max_elements`` entries, so memory
    stays bounded at ImageNet scale."""
    train_n = F.normalize(train_x.to(device), dim=1)
    k = min(k, len(train_x))
    rows = max(1, max_elements // len(train_x))
    parts = [(F.normalize(chunk.to(device), dim=1) @ train_n.T).topk(k, dim=1) for chunk in query_x.split(rows)]
    return torch.cat([p.values.cpu() for p in parts]), torch.cat([p.indices.cpu() for p in parts])


def knn_accuracy(sims: torch.Tensor, neighbours: torch.Tensor, train_y: torch.Tensor, query_y: torch.Tensor,
                 num_classes: int, k: int = 20, temperature: float = 0.07) -> float:
    """Weighted k-NN top-1 (%): the first ``k`` of each query's sorted neighbours vote
    for their label with weight exp(cosine / temperature) (App. F)."""
    votes = torch.zeros(len(query_y), num_classes, dtype=sims.dtype)
    votes.scatter_add_(1, train_y[neighbours[:, :k]], torch.exp(sims[:, :k] / temperature))
    return 100.0 * float((votes.argmax(dim=1) == query_y).float().mean())


@dataclass(frozen=True)
class KnnChoice:
    """The (k, temperature) chosen on the select split, and its accuracies (%)."""
    k: int
    temperature: float
    select_top1: float
    test_top1: float


def choose_knn(bank: tuple[torch.Tensor, torch.Tensor], select: tuple[torch.Tensor, torch.Tensor],
               test: tuple[torch.Tensor, torch.Tensor], num_classes: int, ks: tuple[int, ...] = KNN_KS,
               temperatures: tuple[float, ...] = KNN_TEMPERATURES,
               device: torch.device | str = "cpu") -> KnnChoice:
    """The paper's k x temperature grid (App. F) scored on select with ``bank`` as the
    neighbours (one search for the largest k); the best setting (smaller k, then lower
    temperature, on ties) is then scored on test."""
    (bank_x, bank_y), (select_x, select_y), (test_x, test_y) = bank, select, test
    sims, neighbours = nearest_neighbours(bank_x, select_x, max(ks), device=device)
    scored = [(knn_accuracy(sims, neighbours, bank_y, select_y, num_classes, k, t), -k, -t)
              for k in ks for t in temperatures]
    select_top1, minus_k, minus_t = max(scored)
    k, temperature = -minus_k, -minus_t
    test_sims, test_neighbours = nearest_neighbours(bank_x, test_x, k, device=device)
    return KnnChoice(k=k, temperature=temperature, select_top1=select_top1,
                     test_top1=knn_accuracy(test_sims, test_neighbours, bank_y, test_y, num_classes, k, temperature))
