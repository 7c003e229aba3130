"""The end-of-run evaluation through the real FFCV loader, on a .beton of many more batches
than FFCV keeps buffers: collected labels must be the file's, and a raw-pixel k-NN must
match a float64 reference computed straight from the arrays."""
import numpy as np
import pytest
import torch
from torch import nn

from pipelines.beton import ArraySource, write_beton
from pipelines.loaders import eval_loader
from tuning.config import validate_config
from tuning.run.data import PreparedData
from tuning.run.evaluation import Evaluation, extract_features, final_evaluation

SIZE, CLASSES, BATCH = 8, 10, 16
SELECT_PER_CLASS = 12  # of 120 train images a class
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _noisy_prototypes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One random prototype image per class, plus heavy per-image noise: k-NN is good but
    not perfect, so a wrong label or a wrong neighbour shows in the accuracy."""
    prototypes = np.random.default_rng(1234).integers(100, 156, size=(CLASSES, SIZE, SIZE, 3))
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % CLASSES)
    noise = rng.normal(0, 70, size=(n, SIZE, SIZE, 3))
    return np.clip(prototypes[labels] + noise, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many_batches")
    names = [str(c) for c in range(CLASSES)]
    out = {}
    for split, n, seed in (("train", 1200, 0), ("test", 400, 1)):
        images, labels = _noisy_prototypes(n, seed)
        out[split] = (write_beton(ArraySource(images, labels), folder / f"{split}.beton", names), images, labels)
    return out


def _data(train, test) -> PreparedData:
    return PreparedData(train=str(train), test=str(test), num_classes=CLASSES, select_per_class=SELECT_PER_CLASS,
                        select_seed=0)


def _reference_features(images: np.ndarray) -> np.ndarray:
    """The eval loader's input to the backbone, in float64: ImageNet-standardised pixels."""
    return ((images / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2).reshape(len(images), -1)


def _reference_knn(train_x, train_y, val_x, val_y, k: int, temperature: float) -> float:
    """Weighted k-NN top-1 (%) in float64, written without the package's helpers."""
    train_n = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    val_n = val_x / np.linalg.norm(val_x, axis=1, keepdims=True)
    sims = val_n @ train_n.T
    correct = 0
    for row, label in zip(sims, val_y):
        nearest = np.argsort(-row, kind="stable")[:k]
        votes = np.zeros(CLASSES)
        np.add.at(votes, train_y[nearest], np.exp(row[nearest] / temperature))
        correct += int(votes.argmax() == label)
    return 100.0 * correct / len(val_y)


def test_collected_labels_are_the_files_across_many_batches(splits):
    path, images, labels = splits["train"]
    loader = eval_loader(str(path), BATCH, SIZE, torch.device("cpu"), train=False, center_crop_ratio=1.0)
    assert len(loader) == len(labels) // BATCH == 75  # far more batches than FFCV's reused buffers
    features, collected = extract_features(nn.Flatten(), loader, channels_last=False)
    assert np.array_equal(collected.numpy(), labels)
    assert np.bincount(collected.numpy()).tolist() == [len(labels) // CLASSES] * CLASSES
    np.testing.assert_allclose(features.double().numpy(), _reference_features(images), atol=1.01 / 255 / 0.224)


def test_raw_pixel_knn_and_linear_probe_through_the_loader_match_the_reference(splits):
    (train, train_images, train_y), (val, val_images, val_y) = splits["train"], splits["test"]
    cfg = validate_config({"data": {"train": str(train), "test": str(val), "resolution": SIZE,
                                    "center_crop_ratio": 1.0, "select_per_class": SELECT_PER_CLASS},
                           "model": {"channels_last": False},
                           "probe": {"offline_epochs": 20, "offline_batch_size": BATCH, "offline_lr": 0.05,
                                     "offline_mode": "cached"}})
    data = _data(train, val)
    results = final_evaluation(cfg, data, nn.Flatten(), torch.device("cpu"))
    fit = data.split().fit  # the neighbour bank
    bank_x, val_x = _reference_features(train_images[fit]), _reference_features(val_images)
    reference = _reference_knn(bank_x, train_y[fit], val_x, val_y, int(results["knn_k"]), results["knn_temperature"])
    assert 60.0 < reference < 100.0, "the data should make k-NN good but not perfect"
    assert results["knn_test_top1"] == pytest.approx(reference, abs=100.0 / len(val_y) + 1e-9)
    assert results["linear_probe_test_top1"] > 50.0  # wrong labels put the probe near chance (10%)


def _config(train, val, mode="cached", epochs=10):
    return validate_config({"data": {"train": str(train), "test": str(val), "resolution": SIZE,
                                     "select_per_class": SELECT_PER_CLASS,
                                     "center_crop_ratio": 1.0, "augment": {"crop_scale_min": 0.3}},
                            "model": {"channels_last": False},
                            "probe": {"offline_epochs": epochs, "offline_batch_size": BATCH, "offline_lr": 0.05,
                                      "offline_mode": mode}})


def test_augmented_probe_sees_new_crops_each_epoch_and_cached_sees_centre_crops(splits):
    train, val = splits["train"][0], splits["test"][0]
    data = _data(train, val)
    cached = Evaluation(_config(train, val, "cached"), data, nn.Flatten(), torch.device("cpu"))
    fit = cached.subset(cached.split.fit)
    for epoch in (0, 3):
        features, labels = cached.epoch_features()(epoch)
        assert torch.equal(features, fit[0]) and torch.equal(labels, fit[1])
    augmented = Evaluation(_config(train, val, "augmented"), data, nn.Flatten(), torch.device("cpu")).epoch_features()
    (first, first_y), (second, second_y), (again, _) = augmented(0), augmented(1), augmented(0)
    assert len(first) == len(fit[0]) and sorted(first_y.tolist()) == sorted(fit[1].tolist())
    assert torch.equal(first, again)  # seeded: an epoch's crops repeat
    assert not torch.equal(first, second) and not torch.equal(first_y, second_y)  # new crops, new order
    by_label = lambda x, y: torch.stack([x[y == c].mean(0) for c in range(CLASSES)])  # noqa: E731
    assert not torch.allclose(by_label(first, first_y), by_label(*fit), atol=1e-3)  # not the centre crops


def test_the_linear_probe_reads_features_standardised_by_the_fit_part_alone(splits):
    train, test = splits["train"][0], splits["test"][0]
    evaluation = Evaluation(_config(train, test), _data(train, test), nn.Flatten(), torch.device("cpu"))
    scale = evaluation.standardizer()
    fit, _ = scale(*evaluation.subset(evaluation.split.fit))
    torch.testing.assert_close(fit.double().mean(0), torch.zeros(fit.shape[1], dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(fit.double().std(0), torch.ones(fit.shape[1], dtype=torch.float64), atol=1e-4, rtol=0)
    raw_fit = evaluation.subset(evaluation.split.fit)[0].double()
    expected = (evaluation.test[0].double() - raw_fit.mean(0)) / raw_fit.std(0)  # test scaled by fit's statistics
    torch.testing.assert_close(scale(*evaluation.test)[0].double(), expected, atol=1e-4, rtol=0)
    unscaled = _config(train, test).model_copy(update={"probe": _config(train, test).probe.model_copy(
        update={"offline_standardize": False})})
    plain = Evaluation(unscaled, _data(train, test), nn.Flatten(), torch.device("cpu")).standardizer()
    assert plain(*evaluation.test)[0] is evaluation.test[0]


@pytest.mark.service  # starts a process
def test_the_test_split_takes_no_part_in_any_choice(splits, tmp_path):
    train, val, val_images, val_labels = splits["train"][0], splits["test"][0], splits["test"][1], splits["test"][2]
    shuffled = np.random.default_rng(7).permutation(val_labels)
    val_shuffled = write_beton(ArraySource(val_images, shuffled), tmp_path / "shuffled.beton",
                               [str(c) for c in range(CLASSES)])
    results = [final_evaluation(_config(train, v), _data(train, v), nn.Flatten(), torch.device("cpu"))
               for v in (val, val_shuffled)]
    chosen = ("linear_probe_lr", "linear_probe_select_top1", "knn_k", "knn_temperature", "knn_select_top1")
    assert [results[0][key] for key in chosen] == [results[1][key] for key in chosen]
    assert results[1]["linear_probe_test_top1"] < 25.0 < results[0]["linear_probe_test_top1"]  # test really changed
    assert results[1]["knn_test_top1"] < 25.0 < results[0]["knn_test_top1"]


def _border_classes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class shows in their 2-px border alone, the centre 4x4 pure noise: a centre
    crop of ratio 0.5 sees no class, the whole image does."""
    border = np.ones((SIZE, SIZE), dtype=bool)
    border[2:-2, 2:-2] = False
    prototypes = np.random.default_rng(1234).integers(40, 216, size=(CLASSES, SIZE, SIZE, 3))
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % CLASSES)
    images = rng.integers(0, 256, size=(n, SIZE, SIZE, 3))
    images[:, border] = prototypes[labels][:, border]
    return images.astype(np.uint8), labels


@pytest.mark.service  # the writer starts processes
def test_each_probe_keeps_the_centre_crop_best_on_select(tmp_path):
    names = [str(c) for c in range(CLASSES)]
    train, test = (write_beton(ArraySource(*_border_classes(n, seed)), tmp_path / f"{split}.beton", names)
                   for split, n, seed in (("train", 600, 0), ("test", 200, 1)))
    data = _data(train, test)

    def evaluated(ratio: float, choices: list[float]) -> dict:
        cfg = _config(train, test)
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"center_crop_ratio": ratio}),
                                     "probe": cfg.probe.model_copy(update={"center_crop_choices": choices})})
        return final_evaluation(cfg, data, nn.Flatten(), torch.device("cpu"))

    centre, whole = evaluated(0.5, []), evaluated(1.0, [])
    assert centre["linear_probe_crop"] == centre["knn_crop"] == 0.5  # no choices: the data's crop
    assert centre["linear_probe_select_top1"] < 30.0 < 60.0 < whole["linear_probe_select_top1"]
    assert centre["knn_select_top1"] < 30.0 < 60.0 < whole["knn_select_top1"]
    for ratio, choices in ((0.5, [1.0]), (1.0, [0.5, 1.0])):  # whichever crop is tried first
        chosen = evaluated(ratio, choices)
        assert chosen["linear_probe_crop"] == chosen["knn_crop"] == 1.0
        assert chosen == whole  # the whole image's evaluation, every score and choice
