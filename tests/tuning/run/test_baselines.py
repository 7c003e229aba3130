"""Baselines: the same probes on raw pixels and on the untrained backbone.  Raw-pixel k-NN
is checked against a float64 k-NN written here; the cache returns what was measured."""
import numpy as np
import pytest
import torch

from models.probes import KNN_KS, KNN_TEMPERATURES
from pipelines.augment import IMAGENET_MEAN, IMAGENET_STD
from pipelines.beton import ArraySource, write_beton
from tuning.config import validate_config, with_overrides
from tuning.run import baselines, reports
from tuning.run.data import PreparedData
from tuning.run.model import build_network

SIDE, CLASSES = 8, 3


def _images(n: int, seed: int):
    """Class-dependent smooth patterns plus noise: neither trivial nor hopeless for k-NN."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % CLASSES
    grid = np.linspace(0, 1, SIDE)
    patterns = [np.stack([np.add.outer(grid * c, grid[::-1] * (2 - c)) / 2] * 3, -1) for c in range(CLASSES)]
    images = np.stack([patterns[y] * 200 + rng.normal(0, 40, (SIDE, SIDE, 3)) for y in labels])
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baselines")
    (train_x, train_y), (val_x, val_y) = _images(90, 0), _images(45, 1)
    names = [str(c) for c in range(CLASSES)]
    data = PreparedData(train=str(write_beton(ArraySource(train_x, train_y), folder / "train.beton", names)),
                        test=str(write_beton(ArraySource(val_x, val_y), folder / "test.beton", names)),
                        num_classes=CLASSES, select_per_class=9, select_seed=0)
    cfg = validate_config({"data": {"resolution": SIDE, "center_crop_ratio": 1.0, "loader_workers": 1,
                                    "select_per_class": 9},
                           "probe": {"offline_epochs": 2}, "seed": 4,
                           "resources": {"workers": 1}})
    return cfg, data, (train_x, train_y), (val_x, val_y), folder


def _reference_knn(train, val, data) -> float:
    """Float64: normalised raw pixels, cosine neighbours from the fit part of train, (k,
    temperature) chosen on select (ties: smaller k, then lower temperature), test top-1."""
    def features(images):
        x = images.astype(np.float64) / 255.0
        x = (x - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
        x = x.reshape(len(x), -1)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    split = data.split()
    fit, held = split.fit, split.select
    bank, bank_y = features(train[0][fit]), train[1][fit]

    def accuracy(queries, truth, k, temperature):
        sims = queries @ bank.T
        order = np.argsort(-sims, axis=1)[:, :min(k, len(bank))]
        votes = np.zeros((len(queries), CLASSES))
        for row in range(len(queries)):
            for j in order[row]:
                votes[row, bank_y[j]] += np.exp(sims[row, j] / temperature)
        return 100.0 * np.mean(votes.argmax(1) == truth)

    held_x, held_y = features(train[0][held]), train[1][held]
    best = max((accuracy(held_x, held_y, k, t), -k, -t) for k in KNN_KS for t in KNN_TEMPERATURES)
    return accuracy(features(val[0]), val[1], -best[1], -best[2])


def test_raw_pixel_knn_matches_a_float64_reference_and_every_baseline_is_measured(small):
    cfg, data, train, val, _ = small
    measured = baselines.measure_baselines(cfg, data, torch.device("cpu"))
    assert set(measured) == {reports.baseline_key(r, s) for r in baselines.REPRESENTATIONS for s in baselines.SCORES}
    assert measured[reports.baseline_key("raw_pixels", reports.KNN_TEST_TOP1)] == pytest.approx(
        _reference_knn(train, val, data), abs=1e-9)
    # the data is learnable
    assert measured[reports.baseline_key("raw_pixels", reports.KNN_TEST_TOP1)] > 100 / CLASSES + 20
    assert all(0.0 <= v <= 100.0 for v in measured.values())


def test_the_cache_keeps_what_was_measured_per_data_and_settings(small, monkeypatch):
    cfg, data, *_, folder = small
    first = baselines.cached_baselines(cfg, data, folder / "cache")
    monkeypatch.setattr(baselines, "measure_baselines", lambda *_: pytest.fail("measured again"))
    assert baselines.cached_baselines(cfg, data, folder / "cache") == first
    other = cfg.model_copy(update={"seed": cfg.seed + 1})
    assert baselines.cache_key(other, data) != baselines.cache_key(cfg, data)


def test_the_untrained_backbone_keeps_its_seeded_weights_and_takes_the_datas_batchnorm_statistics(small):
    cfg, data, *_ = small
    untrained = baselines.baseline_representation("untrained", cfg, data, torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    fresh = build_network(cfg, data.num_classes).backbone
    weights = {k: v for k, v in fresh.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(untrained.state_dict()[k], v) for k, v in weights.items())
    norms = [m for m in untrained.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not untrained.training
    assert all(not torch.allclose(m.running_var, torch.ones_like(m.running_var)) for m in norms)


def _pixels(images):
    """Float64: images as the probes see them at crop ratio 1 (normalised, flattened)."""
    x = (images.astype(np.float64) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return x.transpose(0, 3, 1, 2).reshape(len(x), -1)


def test_random_features_are_cosines_of_a_seeded_projection_at_the_median_distance(small):
    cfg, data, train, *_ = small
    fit = data.split().fit[:baselines.BANDWIDTH_IMAGES]
    pixels = baselines.fit_pixels(cfg, data, torch.device("cpu"), baselines.BANDWIDTH_IMAGES)
    assert pixels.shape == (len(fit), 3 * SIDE * SIDE)
    points, reference = pixels.double().numpy(), _pixels(train[0])
    nearest = np.abs(points[:, None, :] - reference[None, :, :]).max(-1).min(1)
    assert nearest.max() < 1e-4  # each is a train image, whole, as stored (crop ratio 1)
    distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    median = float(np.median(distances[np.triu_indices(len(points), 1)]))
    assert baselines.median_distance(pixels) == pytest.approx(median, rel=1e-9)

    features = baselines.baseline_representation("random_features", cfg, data, torch.device("cpu"))
    generator = torch.Generator().manual_seed(cfg.seed)  # the same draws, written out in float64
    weight = torch.randn(3 * SIDE * SIDE, baselines.RANDOM_FEATURES, generator=generator).double() / median
    phase = torch.rand(baselines.RANDOM_FEATURES, generator=generator).double() * 2 * np.pi
    expected = np.sqrt(2.0 / baselines.RANDOM_FEATURES) * np.cos(points @ weight.numpy() + phase.numpy())
    got = features(pixels.view(-1, 3, SIDE, SIDE)).double().numpy()
    assert np.abs(got - expected).max() < 1e-4
    # inner products approximate the Gaussian kernel of bandwidth ``median``
    kernel = np.exp(-distances[:5, :5] ** 2 / (2 * median ** 2))
    assert np.abs(got[:5] @ got[:5].T - kernel).max() < 0.1


def test_the_supervised_ceiling_trains_with_labels_once_and_is_cached(small, monkeypatch):
    cfg, data, *_, folder = small
    labelled = baselines.supervised_config(cfg)
    assert labelled.loss.method == "supervised" and labelled.loss.params == {}
    assert labelled.model_copy(update={"loss": cfg.loss}) == cfg  # nothing else changes
    asking = validate_config(with_overrides(cfg.model_dump(mode="json"), {
        "probe.supervised_baseline": True, "schedule.epochs": 3, "data.batch_size": 32}))
    measured = baselines.cached_baselines(asking, data, folder / "ceiling")
    ceiling = {k: v for k, v in measured.items() if k.startswith(reports.baseline_key("supervised", ""))}
    assert set(ceiling) == {reports.baseline_key("supervised", s) for s in baselines.SCORES}
    assert ceiling[reports.baseline_key("supervised", reports.LINEAR_PROBE_TEST_TOP1)] > 100 / CLASSES + 20
    monkeypatch.setattr(baselines, "measure_supervised", lambda *_: pytest.fail("trained again"))
    assert baselines.cached_baselines(asking, data, folder / "ceiling") == measured
    assert not any(k.startswith("baseline_supervised") for k in baselines.cached_baselines(cfg, data, folder / "c2"))
    other_lr = asking.model_copy(update={"optim": asking.optim.model_copy(update={"base_lr": 0.1})})
    assert baselines.supervised_key(other_lr, data) != baselines.supervised_key(asking, data)
    other_loss = asking.model_copy(update={"loss": labelled.loss})
    assert baselines.supervised_key(other_loss, data) == baselines.supervised_key(asking, data)
