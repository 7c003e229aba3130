"""Candidates for the rung metric: cheap scores of the frozen backbone on select, every epoch.

An early-stopping search compares trials at each rung by one number; which number ranks them
as their final result will is measured (benchmarks/metric_signal.py), not assumed.  Beside the
online probes (the loop's own), these read the frozen backbone's centre-crop representations
of a fixed seeded sample of the fit part of train (the bank, ``probe.rung_bank_images``) and of
select:

- k-NN top-1 on select with the bank as neighbours (App. F's weighting, k = 20, T = 0.07);
- a closed-form ridge probe (standardised features, one-hot targets), its penalty the best of
  a fixed grid on select;
- RankMe of the bank's representations (label-free: comparable within one method only).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.health import rankme
from models.probes import knn_accuracy, nearest_neighbours
from pipelines.loaders import Batches
from tuning.run import reports

KNN_K, KNN_TEMPERATURE = 20, 0.07
RIDGE_PENALTIES = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)  # times the number of bank samples


def ridge_top1(bank: tuple[torch.Tensor, torch.Tensor], select: tuple[torch.Tensor, torch.Tensor],
               num_classes: int, penalties: tuple[float, ...] = RIDGE_PENALTIES) -> float:
    """Top-1 (%) on select of ridge regression from standardised bank features to one-hot
    labels, W = (XᵀX + λn I)⁻¹ XᵀY with a bias, the best λ of ``penalties`` (float64)."""
    (x, y), (query_x, query_y) = bank, select
    x, query_x = x.double(), query_x.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    design = torch.cat([(x - mean) / std, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    query = torch.cat([(query_x - mean) / std, torch.ones(len(query_x), 1, dtype=x.dtype)], 1)
    targets = nn.functional.one_hot(y, num_classes).double()
    gram, moment = design.T @ design, design.T @ targets
    best = 0.0
    for penalty in penalties:
        ridge = penalty * len(x) * torch.eye(len(gram), dtype=x.dtype)
        ridge[-1, -1] = 0.0  # the bias is not penalised
        weights = torch.linalg.solve(gram + ridge, moment)
        best = max(best, 100.0 * float(((query @ weights).argmax(1) == query_y).double().mean()))
    return best


@dataclass
class RungProbes:
    """The bank and select loaders of one run, scored by ``scores`` at the end of each epoch."""
    bank_loader: Batches
    select_loader: Batches
    num_classes: int

    def scores(self, backbone: nn.Module, features) -> dict[str, float]:
        """The candidates' values; ``features(backbone, loader)`` gives (representations, labels)."""
        bank, select = features(backbone, self.bank_loader), features(backbone, self.select_loader)
        sims, neighbours = nearest_neighbours(bank[0], select[0], KNN_K)
        return {reports.FROZEN_KNN_SELECT_TOP1: knn_accuracy(sims, neighbours, bank[1], select[1], self.num_classes,
                                                              KNN_K, KNN_TEMPERATURE),
                reports.FROZEN_RIDGE_SELECT_TOP1: ridge_top1(bank, select, self.num_classes),
                reports.FROZEN_RANKME: rankme(bank[0])}
