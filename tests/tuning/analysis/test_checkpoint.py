"""dualtune analyze's computations on real checkpoints of two short digits pretrainings:
the same val images for both, numbers equal to float64 references on those outputs, CKA
between them, figures and a self-contained page written."""
import numpy as np
import pytest

from pipelines.bundled import ensure_bundled_betons
from tuning.analysis.checkpoint import checkpoint_outputs
from tuning.analysis.side_by_side import analyze_checkpoints
from tuning.config import validate_config
from tuning.errors import ConfigError, StoreError
from tuning.run.data import PreparedData
from tuning.run.loop import RunRequest, pretrain
from tuning.run.sessions import LocalSession

IMAGES = 300  # above small_cnn's 256-d representations, so the sample is what was asked for


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    train, val = ensure_bundled_betons("digits", folder)
    checkpoints = []
    for method, params in (("simclr", {"temperature": 0.15}), ("vicreg", {})):
        cfg = validate_config({"data": {"batch_size": 128}, "schedule": {"epochs": 1},
                               "loss": {"method": method, "params": params},
                               "probe": {"offline_epochs": 0, "knn": False}, "resources": {"workers": 1}})
        session = LocalSession(checkpoint_root=folder / method)
        pretrain(RunRequest(cfg, PreparedData(
            train=str(train), test=str(val), num_classes=10, select_per_class=20, select_seed=0), 0.0), session)
        checkpoints.append(folder / method / f"checkpoint_{len(session.reports):06d}")
    return folder, checkpoints


def _cka(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(0), y - y.mean(0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def _rankme_of(z: np.ndarray) -> float:
    """RankMe written out in float64: exp of the entropy of the normalised singular values of z."""
    singular = np.linalg.svd(z, compute_uv=False)
    p = singular / singular.sum() + 1e-7
    return float(np.exp(-(p * np.log(p)).sum()))


def test_analyze_two_checkpoints(trained, tmp_path):
    folder, checkpoints = trained
    report = analyze_checkpoints(checkpoints, ["simclr", "vicreg"], folder, IMAGES, tmp_path / "out")
    outputs = [checkpoint_outputs(c, folder, IMAGES) for c in checkpoints]
    assert (outputs[0].labels == outputs[1].labels).all() and len(outputs[0].labels) == IMAGES  # same images

    x, y = (o.representations.double().numpy() for o in outputs)
    assert report.cka[0, 1] == report.cka[1, 0] == pytest.approx(_cka(x, y), rel=1e-8)
    assert 0.0 < float(report.cka[0, 1]) < 1.0 and float(report.cka[0, 0]) == 1.0
    assert report.metrics_of(0)["cka_vicreg"] == pytest.approx(float(report.cka[0, 1]))

    z = outputs[0].embeddings.double().numpy()
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    negatives = (unit @ unit.T)[np.triu_indices(IMAGES, 1)]
    metrics = report.analyses[0].metrics
    assert metrics["images"] == IMAGES and metrics["embedding_dim"] == 128
    assert metrics["negative_cosine_mean"] == pytest.approx(negatives.mean(), rel=1e-6)
    assert metrics["negative_cosine_std"] == pytest.approx(negatives.std(ddof=1), rel=1e-6)
    assert 1 <= metrics["embedding_spectrum_rank"] <= 128

    # Fig. S5's spectra and RankMe read train images the run fitted on, not the test sample
    fit = checkpoint_outputs(checkpoints[0], folder, IMAGES, sample="fit")
    assert metrics["spectrum_images"] == IMAGES == len(fit.labels)
    assert metrics["embedding_rankme"] == pytest.approx(_rankme_of(fit.embeddings.double().numpy()), rel=1e-4)
    assert metrics["embedding_rankme"] != pytest.approx(_rankme_of(z), rel=1e-4)  # not the test sample's
    assert abs(metrics["table_s4_theorem33_residual"]) < 1e-6 * metrics["table_s4_L_c"]
    assert metrics["table_s4_colnorm_lower_bound"] <= metrics["table_s4_colnorm_sum_row_norm4"]

    h = outputs[0].representations.double().numpy()[:, :64]
    centred = h - outputs[0].representations.double().numpy().mean(0)[:64]
    covariance = centred.T @ centred / (IMAGES - 1)  # float64, written out here
    off = ~np.eye(64, dtype=bool)
    dominance = np.abs(np.diag(covariance)).mean() / np.abs(covariance[off]).mean()
    assert metrics["representation_covariance_diagonal_dominance"] == pytest.approx(dominance, rel=1e-6)
    full = outputs[0].representations.double().numpy()
    block = (full - full.mean(0))[:64]
    block = block / np.linalg.norm(block, axis=1, keepdims=True)
    gram = block @ block.T
    assert metrics["representation_gram_diagonal_dominance"] == pytest.approx(
        np.abs(np.diag(gram)).mean() / np.abs(gram[off]).mean(), rel=1e-6)

    names = sorted(p.name for p in report.files)
    assert names == ["analysis.html", "cka.png", "gram_covariance.png", "negative_cosines.png", "spectra.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in report.files if p.suffix == ".png")
    page = (tmp_path / "out" / "analysis.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "vicreg" in page and "negative_cosine_mean" in page


def test_one_checkpoint_has_no_cka_and_bad_input_is_refused(trained, tmp_path):
    folder, checkpoints = trained
    report = analyze_checkpoints(checkpoints[:1], ["one"], folder, 64, tmp_path / "one")
    assert report.cka is None and not any(k.startswith("cka_") for k in report.metrics_of(0))
    assert sorted(p.name for p in report.files) == ["analysis.html", "gram_covariance.png", "negative_cosines.png",
                                                    "spectra.png"]
    with pytest.raises(ConfigError, match="one --name per --checkpoint"):
        analyze_checkpoints(checkpoints, ["only-one"], folder, 64, tmp_path / "x")
    with pytest.raises(StoreError, match="not a dualtune checkpoint"):
        analyze_checkpoints([tmp_path], ["x"], folder, 64, tmp_path / "x")
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_negative_pairs_are_read_on_what_the_loss_compares():
    """A batch with a large shared offset: raw cosines sit near 1, but a centring variant's loss
    compares centred embeddings, whose negative-pair cosines sit near 0 (Fig. S4)."""
    import torch

    from tuning.analysis.checkpoint import seen_by_loss

    generator = torch.Generator().manual_seed(0)
    z = torch.randn(256, 32, generator=generator, dtype=torch.float64) + 10.0
    centred = validate_config({"loss": {"method": "simclr", "params": {"normalization": "centering"}}})
    classical = validate_config({"loss": {"method": "simclr"}})
    reference = (z - z.mean(0)).numpy()  # float64, written out here
    unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.allclose(seen_by_loss(centred, z).numpy(), unit)
    assert seen_by_loss(classical, z) is z
    off = ~np.eye(256, dtype=bool)
    assert abs((unit @ unit.T)[off].mean()) < 0.05
    raw = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    assert (raw @ raw.T)[off].mean() > 0.9


def test_the_sample_is_at_least_as_wide_as_the_widest_network():
    from tuning.analysis.checkpoint import sample_size

    narrow = validate_config({"model": {"projector": "64-32"}})  # small_cnn: 256-d representations
    wide = validate_config({"model": {"projector": "512-512-d", "embedding_dim": 2048}})
    assert sample_size([narrow], 100) == 256 and sample_size([narrow], 1024) == 1024
    assert sample_size([narrow, wide], 1024) == 2048
