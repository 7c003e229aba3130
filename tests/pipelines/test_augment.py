"""Each Table S1 augmentation has a detectable effect; randomness is per sample and seeded."""
import pytest
import torch
import torchvision.transforms.functional as TF

from pipelines.augment import (
    JITTER_OPS,
    VIEW_1,
    VIEW_2,
    ViewAugmentation,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    augment_view,
    color_jitter,
    gaussian_blur,
    grayscale,
    jitter_orders,
    normalize,
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


def _images(n=12, size=10, seed=3):
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    x[0] = x[0, :1]  # a gray image: hue undefined, saturation zero
    x[1, :, :3] = 1.0  # saturated white and pure colours
    x[1, 0, 3:5], x[1, 1:, 3:5] = 1.0, 0.0
    return x


@pytest.mark.parametrize("ours, theirs, low, high", [
    (adjust_brightness, TF.adjust_brightness, 0.0, 1.8), (adjust_contrast, TF.adjust_contrast, 0.0, 1.8),
    (adjust_saturation, TF.adjust_saturation, 0.0, 1.8), (adjust_hue, TF.adjust_hue, -0.5, 0.5),
])
def test_each_jitter_op_matches_torchvisions_functional_op(ours, theirs, low, high):
    x = _images()
    factors = low + (high - low) * torch.rand(len(x), generator=torch.Generator().manual_seed(1))
    expected = torch.stack([theirs(image, float(factor)) for image, factor in zip(x, factors)])
    torch.testing.assert_close(ours(x, factors), expected, atol=2e-6, rtol=0)


def test_grayscale_blur_and_solarize_match_torchvision():
    x = _images(size=30)
    torch.testing.assert_close(grayscale(x), TF.rgb_to_grayscale(x, num_output_channels=3), atol=1e-7, rtol=0)
    for sigma in (0.3, 1.7):  # kernel 3 px at 30 px (10% of the side, odd)
        expected = TF.gaussian_blur(x, [3, 3], [sigma, sigma])
        torch.testing.assert_close(gaussian_blur(x, torch.full((len(x),), sigma)), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(solarize(x, 0.5), TF.solarize(x, 0.5), atol=0, rtol=0)


def test_jitter_applies_its_ops_in_a_random_order_per_image():
    orders = jitter_orders(24000, torch.Generator().manual_seed(0), "cpu")
    assert sorted(orders[0].tolist()) == [0, 1, 2, 3]
    counts = torch.unique(orders, dim=0, return_counts=True)[1]
    assert len(counts) == 24 and counts.min() > 850 and counts.max() < 1150  # 1000 expected for each of 4!
    first = torch.bincount(orders[:, 0], minlength=len(JITTER_OPS)).float() / len(orders)
    assert torch.allclose(first, torch.full((4,), 0.25), atol=0.015)


def test_jitter_equals_torchvisions_ops_composed_in_the_drawn_order():
    x, aug = _images(n=16), ViewAugmentation(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    out = color_jitter(x, aug, torch.Generator().manual_seed(5))
    draws = torch.Generator().manual_seed(5)  # replay the draws: 4 factor vectors, then the orders
    factors = [0.6 + 0.8 * torch.rand(16, generator=draws), 0.6 + 0.8 * torch.rand(16, generator=draws),
               0.8 + 0.4 * torch.rand(16, generator=draws), -0.1 + 0.2 * torch.rand(16, generator=draws)]
    orders = jitter_orders(16, draws, "cpu")
    functions = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for i in range(16):
        image = x[i]
        for op in orders[i].tolist():
            image = functions[op](image, float(factors[op][i]))
        torch.testing.assert_close(out[i], image, atol=5e-6, rtol=0)


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
