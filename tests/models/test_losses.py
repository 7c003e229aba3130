"""Every registered loss against a naive float64 reference, on several shapes."""
import pytest
import torch

from models import losses
from models.registry import METHODS, build_loss
from tests.models import reference_losses as ref

SHAPES = [(4, 3), (6, 8), (9, 5)]


def _pair(shape, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(*shape, generator=g, dtype=torch.float64)
    return a, a + 0.3 * torch.randn(*shape, generator=g, dtype=torch.float64)


CASES = [
    ("simclr", {"temperature": 0.15}, lambda a, b: ref.info_nce(a, b, 0.15)),
    ("simclr", {"temperature": 0.5, "normalization": "centering"},
     lambda a, b: ref.info_nce(a, b, 0.5, normalization="centering")),
    ("simclr", {"temperature": 0.3, "normalization": "standardization"},
     lambda a, b: ref.info_nce(a, b, 0.3, normalization="standardization")),
    ("simclr-sq", {"temperature": 0.2}, lambda a, b: ref.info_nce(a, b, 0.2, similarity="sq")),
    ("simclr-abs", {"temperature": 0.2}, lambda a, b: ref.info_nce(a, b, 0.2, similarity="abs")),
    ("dcl", {"temperature": 0.1}, lambda a, b: ref.info_nce(a, b, 0.1, decoupled=True)),
    ("dcl-sq", {"temperature": 0.1}, lambda a, b: ref.info_nce(a, b, 0.1, similarity="sq", decoupled=True)),
    ("dcl-abs", {"temperature": 0.1}, lambda a, b: ref.info_nce(a, b, 0.1, similarity="abs", decoupled=True)),
    ("scl", {"mu": 1.0}, lambda a, b: ref.spectral_contrastive(a, b, 1.0)),
    ("scl", {"mu": 4.0}, lambda a, b: ref.spectral_contrastive(a, b, 4.0)),
    ("vicreg", {}, lambda a, b: ref.vicreg(a, b, 25, 25, 1)),
    ("vicreg-exp", {}, lambda a, b: ref.vicreg(a, b, 1, 1, 2, "logsumexp", 0.1)),
    ("vicreg-ctr", {}, lambda a, b: ref.vicreg(a, b, 1, 1, 1, "logsumexp", 0.15, transpose=True)),
    ("barlow-twins", {"lambd": 0.02}, lambda a, b: ref.barlow_twins(a, b, 0.02)),
    ("tcr", {"eps": 0.5, "inv_weight": 2.0}, lambda a, b: ref.tcr(a, b, 0.5, 2.0)),
    ("supervised", {}, lambda a, b: 0.0),  # no self-supervised term: the labels train it (models.ssl_model)
]


@pytest.mark.parametrize("method,params,reference", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("shape", SHAPES)
def test_loss_matches_float64_reference(method, params, reference, shape):
    a, b = _pair(shape, seed=shape[0] * 10 + shape[1])
    got = build_loss(method, params)(a, b).total
    want = reference(a.numpy(), b.numpy())
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_every_registered_method_has_a_reference_case():
    assert {c[0] for c in CASES} == set(METHODS)


def test_simclr_is_lower_for_aligned_views_than_for_shuffled_ones():
    a, _ = _pair((16, 8), seed=1)
    loss = build_loss("simclr", {"temperature": 0.15})
    assert float(loss(a, a).total) < float(loss(a, a[torch.randperm(16)]).total)


def test_off_diagonal_keeps_every_off_diagonal_entry_in_row_order():
    m = torch.arange(16.0).reshape(4, 4)
    expected = torch.tensor([[1, 2, 3], [4, 6, 7], [8, 9, 11], [12, 13, 14]], dtype=torch.float32)
    assert torch.equal(losses.off_diagonal(m), expected)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("collapsed", [False, True])
def test_gradients_are_finite(method, precision, collapsed):
    g = torch.Generator().manual_seed(3)
    base = torch.randn(1, 16, generator=g) if collapsed else torch.randn(32, 16, generator=g)
    noise = 1e-4 if collapsed else 1.0
    z_a = (base + noise * torch.randn(32, 16, generator=g)).requires_grad_()
    z_b = (base + noise * torch.randn(32, 16, generator=g)).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = build_loss(method)(z_a, z_b).total
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z_a.grad).all() and torch.isfinite(z_b.grad).all()
    if METHODS[method].trains_on_labels:  # no self-supervised gradient: the labels train it, through its probe
        assert z_a.grad.abs().sum() == 0 and z_b.grad.abs().sum() == 0
    else:
        assert z_a.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["vicreg", "vicreg-exp", "vicreg-ctr"])
def test_vicreg_family_returns_its_terms_with_the_weighted_sum(method):
    from models.registry import get_method

    a, b = _pair((8, 5), seed=4)
    total, terms = build_loss(method)(a, b)
    weights = get_method(method).params
    expected = (weights["sim_weight"] * terms["invariance"] + weights["var_weight"] * terms["variance"]
                + weights["cov_weight"] * terms["covariance"])
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    assert set(terms) == {"invariance", "variance", "covariance"}
    assert float(terms["invariance"]) == pytest.approx(float(((a - b) ** 2).mean()), rel=1e-12)


def test_methods_without_terms_return_no_terms():
    a, b = _pair((8, 5), seed=4)
    assert build_loss("simclr")(a, b).terms == {}
