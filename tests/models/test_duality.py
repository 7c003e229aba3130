"""Theorem 3.3 and Corollary 3.4.1, property-based over random embedding matrices."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.duality import (
    column_norms_fourth,
    dimension_contrastive_criterion,
    duality_report,
    row_norms_fourth,
    sample_contrastive_criterion,
)

matrices = st.tuples(st.integers(2, 12), st.integers(2, 12), st.integers(0, 2 ** 31 - 1)).map(
    lambda t: torch.from_numpy(np.random.default_rng(t[2]).normal(size=(t[0], t[1]))))


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_theorem_3_3_identity(k):
    l_c, l_nc = sample_contrastive_criterion(k), dimension_contrastive_criterion(k)
    lhs = l_nc + row_norms_fourth(k)
    rhs = l_c + column_norms_fourth(k)
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-10)
    assert float((k.T @ k).pow(2).sum()) == pytest.approx(float((k @ k.T).pow(2).sum()), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(matrices, st.sampled_from(["embeddings", "dimensions"]))
def test_corollary_3_4_1_bounds(k, normalised):
    m, n = k.shape
    if normalised == "embeddings":  # unit columns: L_nc - N + N^2/M <= L_c <= L_nc - N + N^2
        k = k / k.norm(dim=0, keepdim=True)
        low, value, size, other = dimension_contrastive_criterion, sample_contrastive_criterion, n, m
    else:  # unit rows: L_c - M + M^2/N <= L_nc <= L_c - M + M^2
        k = k / k.norm(dim=1, keepdim=True)
        low, value, size, other = sample_contrastive_criterion, dimension_contrastive_criterion, m, n
    base, target = float(low(k)), float(value(k))
    assert base - size + size * size / other - 1e-9 <= target <= base - size + size * size + 1e-9


def test_criteria_match_explicit_pair_sums():
    k = torch.randn(3, 5, dtype=torch.float64)
    l_c = sum(float(k[:, i] @ k[:, j]) ** 2 for i in range(5) for j in range(5) if i != j)
    l_nc = sum(float(k[i] @ k[j]) ** 2 for i in range(3) for j in range(3) if i != j)
    assert float(sample_contrastive_criterion(k)) == pytest.approx(l_c)
    assert float(dimension_contrastive_criterion(k)) == pytest.approx(l_nc)


def test_duality_report_is_table_s4_for_a_batch():
    embeddings = torch.randn(64, 16)
    report = duality_report(embeddings)
    assert report["N"] == 64 and report["M"] == 16
    assert abs(report["theorem33_residual"]) < 1e-6 * report["L_c"]
    assert report["colnorm_lower_bound"] == 64 * 64 / 16
    assert report["colnorm_lower_bound"] <= report["colnorm_sum_row_norm4"] <= report["colnorm_upper_bound"]
    assert report["rownorm_lower_bound"] <= report["rownorm_sum_col_norm4"] <= report["rownorm_upper_bound"]
