"""Each Table S1 augmentation has a detectable effect; randomness is per sample and seeded."""
import pytest
import torch

from pipelines.augment import (
    VIEW_1,
    VIEW_2,
    ViewAugmentation,
    augment_view,
    gaussian_blur,
    grayscale,
    normalize,
    rotate_hue,
    solarize,
)


def _batch(n=64, size=16, seed=0):
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _only(**kwargs):
    off = dict(flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0)
    return ViewAugmentation(**{**off, **kwargs})


def test_output_is_float_in_unit_range():
    x = augment_view(_batch(), VIEW_2, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1


def test_flip_mirrors_the_fired_samples_only():
    images = _batch(n=400, size=6)
    x = augment_view(images, _only(flip_p=0.5), torch.Generator().manual_seed(0))
    original = images.float() / 255
    flipped = (x == original.flip(-1)).flatten(1).all(dim=1)
    kept = (x == original).flatten(1).all(dim=1)
    assert bool((flipped | kept).all())
    assert 0.4 < float(flipped.float().mean()) < 0.6


def test_grayscale_views_have_equal_channels():
    x = augment_view(_batch(), _only(grayscale_p=1.0), torch.Generator().manual_seed(0))
    assert torch.allclose(x[:, 0], x[:, 1]) and torch.allclose(x[:, 1], x[:, 2])


def test_grayscale_fires_with_its_probability():
    x = augment_view(_batch(n=2000, size=4), _only(grayscale_p=0.2), torch.Generator().manual_seed(0))
    gray = (x.std(dim=1) < 1e-6).all(dim=(1, 2)).float().mean()
    assert 0.15 < float(gray) < 0.25


def test_solarize_inverts_pixels_above_threshold():
    x = torch.tensor([0.1, 0.49, 0.5, 0.9]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2)
    assert torch.allclose(solarize(x)[0, 0].flatten(), torch.tensor([0.1, 0.49, 0.5, 0.1]))
    out = augment_view((x * 255).round().to(torch.uint8), _only(solarize_p=1.0), torch.Generator().manual_seed(0))
    assert out[0, 0, 1, 1] == pytest.approx(1 - 230 / 255, abs=1e-6)


def test_blur_smooths_and_preserves_mean():
    x = _batch(n=4).float() / 255
    blurred = gaussian_blur(x, torch.full((4,), 2.0))
    assert blurred.std() < 0.7 * x.std()
    assert torch.allclose(blurred.mean(), x.mean(), atol=0.02)
    assert torch.allclose(gaussian_blur(x, torch.full((4,), 1e-3)), x, atol=1e-6)


def test_hue_rotation_keeps_gray_and_full_turn_is_identity():
    x = _batch(n=4).float() / 255
    assert torch.allclose(rotate_hue(x, torch.ones(4)), x, atol=1e-5)
    gray = grayscale(x)
    assert torch.allclose(rotate_hue(gray, torch.full((4,), 0.3)), gray, atol=1e-5)
    assert not torch.allclose(rotate_hue(x, torch.full((4,), 0.1)), x, atol=1e-2)


def test_views_differ_per_sample_and_are_seeded():
    images = _batch()
    a = augment_view(images, VIEW_1, torch.Generator().manual_seed(7))
    b = augment_view(images, VIEW_1, torch.Generator().manual_seed(7))
    c = augment_view(images, VIEW_1, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    same = images[:1].expand(8, -1, -1, -1)
    out = augment_view(same, VIEW_2, torch.Generator().manual_seed(0))
    assert len({round(float(v), 5) for v in out.mean(dim=(1, 2, 3))}) > 4


def test_normalize_standardises_channels():
    x = torch.full((1, 3, 2, 2), 0.485)
    assert torch.allclose(normalize(x)[0, 0], torch.zeros(2, 2), atol=1e-6)
