"""Naive float64 references for the loss family, written from the paper's formulas with
explicit loops; independent of models.losses."""
from __future__ import annotations

import math

import numpy as np


def _unit(v):
    return v / np.linalg.norm(v)


def info_nce(a, b, temperature, similarity="cosine", decoupled=False, normalization="embedding"):
    n, d = a.shape

    def normalise(z):
        z = z.copy()
        if normalization in ("centering", "standardization"):
            for j in range(d):
                z[:, j] -= sum(z[i, j] for i in range(n)) / n
        if normalization == "standardization":
            for j in range(d):
                z[:, j] *= math.sqrt(n / d) / math.sqrt(sum(z[i, j] ** 2 for i in range(n)))
            return z
        return np.stack([_unit(row) for row in z])

    views = list(normalise(a)) + list(normalise(b))
    f = {"cosine": lambda s: s, "sq": lambda s: s * s, "abs": abs}[similarity]
    total = 0.0
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        positive = f(float(views[i] @ views[partner])) / temperature
        denominator = 0.0
        for j in range(2 * n):
            if j == i or (decoupled and j == partner):
                continue
            denominator += math.exp(f(float(views[i] @ views[j])) / temperature)
        total += -positive + math.log(denominator)
    return total / (2 * n)


def spectral_contrastive(a, b, mu=1.0):
    n = len(a)

    def project(z):
        return np.stack([row * min(1.0, math.sqrt(mu) / np.linalg.norm(row)) for row in z])

    a, b = project(a), project(b)
    attraction = -2.0 * sum(float(a[i] @ b[i]) for i in range(n)) / n
    repulsion = 0.0
    for z in (a, b):
        repulsion += sum(float(z[i] @ z[j]) ** 2 for i in range(n) for j in range(n) if i != j) / (n * (n - 1)) / 2
    return attraction + repulsion


def vicreg(a, b, sim_weight, var_weight, cov_weight, covariance="squares", temperature=0.1, transpose=False):
    n = len(a)
    invariance = sum((a[i, j] - b[i, j]) ** 2 for i in range(n) for j in range(a.shape[1])) / a.size
    denominator = n - 1
    views = (a.T, b.T) if transpose else (a, b)
    variance, cov_term = 0.0, 0.0
    for k in views:
        rows, cols = k.shape
        hinge = 0.0
        for j in range(cols):
            col = k[:, j]
            var = sum((x - col.mean()) ** 2 for x in col) / (rows - 1)
            hinge += max(0.0, 1.0 - math.sqrt(var + 1e-4))
        variance += hinge / cols / 2
        centred = k - k.mean(axis=0)
        cov = np.zeros((cols, cols))
        for p in range(cols):
            for q in range(cols):
                cov[p, q] = sum(centred[r, p] * centred[r, q] for r in range(rows)) / denominator
        if covariance == "squares":
            cov_term += sum(cov[p, q] ** 2 for p in range(cols) for q in range(cols) if p != q) / cols
        else:
            lse = [math.log(sum(math.exp(cov[p, q] / temperature) for q in range(cols) if q != p))
                   for p in range(cols)]
            cov_term += sum(lse) / cols / 2
    return sim_weight * invariance + var_weight * variance + cov_weight * cov_term


def barlow_twins(a, b, lambd):
    n, d = a.shape

    def standardize(z):
        return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)

    a, b = standardize(a), standardize(b)
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[r, i] * b[r, j] for r in range(n)) / n
            loss += (1 - c) ** 2 if i == j else lambd * c ** 2
    return loss


def tcr(a, b, eps, inv_weight):
    a = np.stack([_unit(r) for r in a])
    b = np.stack([_unit(r) for r in b])
    n, d = a.shape
    alpha = d / (n * eps ** 2)
    rates = [0.5 * np.linalg.slogdet(np.eye(d) + alpha * z.T @ z)[1] for z in (a, b)]
    invariance = 1 - sum(float(a[i] @ b[i]) for i in range(n)) / n
    return inv_weight * invariance - sum(rates) / 2
