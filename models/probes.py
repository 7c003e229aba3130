"""Linear probes and k-NN evaluation of frozen representations (paper App. E and F)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.schedules import scaled_lr, warmup_cosine


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """Number of samples whose label is among the top-k logits, for each k (capped at #classes)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == labels[:, None]
    return {k: int(hits[:, :k].any(dim=1).sum()) for k in ks}


def train_linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                       num_classes: int, epochs: int = 100, lr: float = 0.1, batch_size: int = 256,
                       weight_decay: float = 1e-6, seed: int = 0,
                       device: torch.device | str = "cpu") -> dict[str, float]:
    """Offline linear evaluation on frozen features: SGD momentum 0.9, cosine schedule (App. E).

    Returns ``linear_probe_top1`` and ``linear_probe_top5`` on the validation features, in %.
    The learning rate is scaled by batch_size / 256 as in the paper's protocol.  The head
    trains on ``device``; features stay where they are and move there a batch at a time.
    """
    generator = torch.Generator().manual_seed(seed)
    head = nn.Linear(train_x.shape[1], num_classes).to(device)
    peak_lr = scaled_lr(lr, batch_size)
    optimizer = torch.optim.SGD(head.parameters(), lr=peak_lr, momentum=0.9, weight_decay=weight_decay)
    steps_per_epoch = max(1, -(-len(train_x) // batch_size))
    total = epochs * steps_per_epoch
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=generator)
        for start in range(0, len(train_x), batch_size):
            idx = order[start:start + batch_size]
            for group in optimizer.param_groups:
                group["lr"] = warmup_cosine(step, total, 0, peak_lr, final_lr_ratio=0.0)
            loss = F.cross_entropy(head(train_x[idx].to(device, non_blocking=True)),
                                   train_y[idx].to(device, non_blocking=True))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    with torch.no_grad():
        logits = torch.cat([head(chunk.to(device)).cpu() for chunk in val_x.split(batch_size)])
        hits = topk_correct(logits, val_y)
    return {"linear_probe_top1": 100.0 * hits[1] / len(val_y), "linear_probe_top5": 100.0 * hits[5] / len(val_y)}


def nearest_neighbours(train_x: torch.Tensor, val_x: torch.Tensor, k: int, max_elements: int = 2 ** 26,
                       device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and train indices of each val sample's ``k`` nearest train
    samples, most similar first, computed on ``device`` and returned on the CPU.  Val rows
    go in chunks whose similarity block holds at most ``max_elements`` entries, so memory
    stays bounded at ImageNet scale."""
    train_n = F.normalize(train_x.to(device), dim=1)
    k = min(k, len(train_x))
    rows = max(1, max_elements // len(train_x))
    parts = [(F.normalize(chunk.to(device), dim=1) @ train_n.T).topk(k, dim=1) for chunk in val_x.split(rows)]
    return torch.cat([p.values.cpu() for p in parts]), torch.cat([p.indices.cpu() for p in parts])


def knn_accuracy(sims: torch.Tensor, neighbours: torch.Tensor, train_y: torch.Tensor, val_y: torch.Tensor,
                 num_classes: int, k: int = 20, temperature: float = 0.07) -> float:
    """Weighted k-NN top-1 (%): the first ``k`` of each val sample's sorted neighbours vote
    for their label with weight exp(cosine / temperature) (App. F)."""
    votes = torch.zeros(len(val_y), num_classes, dtype=sims.dtype)
    votes.scatter_add_(1, train_y[neighbours[:, :k]], torch.exp(sims[:, :k] / temperature))
    return 100.0 * float((votes.argmax(dim=1) == val_y).float().mean())


def best_knn_accuracy(train_x, train_y, val_x, val_y, num_classes: int,
                      ks=(1, 5, 10, 20, 50, 200), temperatures=(0.05, 0.07, 0.1, 0.2, 0.5, 1.0),
                      device: torch.device | str = "cpu") -> dict[str, float]:
    """The best k-NN top-1 over the paper's grid of k and temperature (App. F), from one
    search (on ``device``) for the largest k's neighbours."""
    sims, neighbours = nearest_neighbours(train_x, val_x, max(ks), device=device)
    best = max((knn_accuracy(sims, neighbours, train_y, val_y, num_classes, k, t), k, t)
               for k in ks for t in temperatures)
    return {"knn_top1": best[0], "knn_k": float(best[1]), "knn_temperature": best[2]}
