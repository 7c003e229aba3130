"""The seeded random-resized crop: inside the image, repeatable per key, and drawn from the
same distribution as FFCV's own (unseeded) RandomResizedCrop; both SSL views from one decode,
and a reduced-scale JPEG decode that gives the same crops."""
import gc

import numpy as np
import pytest
import torch
from ffcv.fields import rgb_image
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from PIL import Image

from benchmarks.reference_loaders import per_view_loader
from pipelines.beton import ArraySource, write_beton
from pipelines.loaders import ssl_loader
from pipelines.seeded_crop import (
    decode_denominator,
    image_key,
    random_resized_crop,
    scaled_side,
    scaled_span,
)

CPU = torch.device("cpu")

SCALE, LOG_RATIO = np.array([0.08, 1.0]), np.log(np.array([3 / 4, 4 / 3]))
seeded_crop, key_of = njit(random_resized_crop), njit(image_key)
ffcv_crop = njit(rgb_image.get_random_crop)


@njit
def _our_crops(height, width, count, stream):
    """Crops as the decoder draws them: image n follows image n + 1 in the order."""
    out = np.empty((count, 4), dtype=np.int64)
    for n in range(count):
        out[n] = seeded_crop(height, width, SCALE, LOG_RATIO, key_of(stream, n, n + 1))
    return out


@njit
def _ffcv_crops(height, width, count, seed):
    np.random.seed(seed)
    out = np.empty((count, 4), dtype=np.int64)
    for n in range(count):
        out[n] = ffcv_crop(height, width, np.array([0.08, 1.0]), np.array([3 / 4, 4 / 3]))
    return out


def _summary(crops, height, width):
    top, left, crop_height, crop_width = crops.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + crop_height <= height).all() and (left + crop_width <= width).all()
    return (crop_height * crop_width / (height * width)).mean(), np.log(crop_width / crop_height).mean()


def test_crops_stay_inside_repeat_per_key_and_match_ffcvs_distribution():
    height, width, count = 48, 64, 4000
    ours = _our_crops(height, width, count, 7)
    assert np.array_equal(ours, _our_crops(height, width, count, 7))
    assert not np.array_equal(ours, _our_crops(height, width, count, 8))
    assert len({tuple(c) for c in ours}) > count // 4  # keys give different crops
    our_area, our_log_aspect = _summary(ours, height, width)
    ffcv_area, ffcv_log_aspect = _summary(_ffcv_crops(height, width, count, 0), height, width)
    assert abs(our_area - ffcv_area) < 0.03  # 5 standard errors of the difference
    assert abs(our_log_aspect - ffcv_log_aspect) < 0.03


def test_an_image_too_narrow_for_any_draw_gets_the_central_crop_at_the_ratio_bound():
    # 200 x 8: every draw needs a width above 8, so all ten tries fail
    assert tuple(_our_crops(200, 8, 1, 0)[0]) == ((200 - 11) // 2, 0, 11, 8)
    assert tuple(_our_crops(8, 200, 1, 0)[0]) == (0, (200 - 11) // 2, 8, 11)


# One decode for both views, and JPEG decodes at a reduced scale (pipelines.seeded_crop.SeededCrops).

@pytest.fixture(autouse=True)
def _loaders_collected():
    """Collect each test's FFCV loaders before the next test: garbage freed while Python
    3.11.7 parses a module can fail the parse (see tests/conftest.py)."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def photo_betons(tmp_path_factory):
    """ImageNet-like photos (smooth structure plus noise) of several sizes and aspect ratios,
    as a JPEG .beton and a raw one."""
    rng = np.random.default_rng(0)
    shapes = [(500, 375), (375, 500), (333, 500), (640, 210), (190, 480), (97, 141), (256, 256), (421, 317)]
    images = []
    for height, width in shapes * 3:
        coarse = rng.integers(0, 256, (height // 24 + 2, width // 24 + 2, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.int16)
        images.append(np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8))
    folder = tmp_path_factory.mktemp("photos")
    return {mode: write_beton(ArraySource(images, np.arange(len(images)) % 2), folder / f"{mode}.beton", ["a", "b"],
                              write_mode=mode, jpeg_quality=90) for mode in ("jpg", "raw")}


def _epoch(batches) -> torch.Tensor:
    """(images, 2, C, H, W) float: every view of one epoch, copied out of FFCV's buffers."""
    return torch.cat([torch.stack([view1, view2], 1).float() for view1, view2, _ in batches])


@pytest.mark.parametrize("mode", ["jpg", "raw"])
def test_one_decode_gives_the_crops_of_two_single_view_decodes(photo_betons, mode):
    path = str(photo_betons[mode])
    one = _epoch(ssl_loader(path, 8, 40, CPU, seed=3, distributed=False, scaled_decode=False))
    assert torch.equal(one, _epoch(per_view_loader(path, 8, 40, seed=3)))
    assert torch.equal(one, _epoch(ssl_loader(path, 8, 40, CPU, seed=3, distributed=False, scaled_decode=False)))
    assert (one[:, 0] - one[:, 1]).abs().mean(dim=(1, 2, 3)).min() > 1  # the two views of an image differ
    other_seed = _epoch(ssl_loader(path, 8, 40, CPU, seed=4, distributed=False, scaled_decode=False))
    assert not torch.equal(one, other_seed)


def test_a_scaled_decode_gives_the_same_crops_within_one_output_pixel_of_variation(photo_betons):
    """Bound: a scaled decode moves a crop's edges by at most half an output pixel (scaled_span
    rounds to the nearest scaled pixel, and the scaled crop holds at least the output size), and
    replaces area resampling of d x d pixels by libjpeg's DCT-domain scaling of the same block.
    Each output pixel then differs from the full decode's by less than neighbouring output
    pixels differ from each other: per view, mean |scaled - full| <= mean |horizontal step| of
    the full decode's view.  A different crop of the same image breaks that bound (checked)."""
    path = str(photo_betons["jpg"])
    full = _epoch(ssl_loader(path, 8, 32, CPU, seed=5, distributed=False, scaled_decode=False))
    scaled = _epoch(ssl_loader(path, 8, 32, CPU, seed=5, distributed=False, scaled_decode=True))
    difference = (scaled - full).abs().mean(dim=(2, 3, 4))
    step = (full[..., 1:] - full[..., :-1]).abs().mean(dim=(2, 3, 4))
    assert (difference > 0).float().mean() > 0.5  # most views at 32 px were decoded at a reduced scale
    assert (difference <= step).all(), (difference / step).max()
    unrelated = (full[:, 0] - full[:, 1]).abs().mean(dim=(1, 2, 3))  # the other view: another crop
    assert (unrelated > step[:, 0]).float().mean() > 0.9


@njit
def _two_crops(height, width, index):
    out = np.empty((2, 4), dtype=np.int64)
    for stream in range(2):
        out[stream] = seeded_crop(height, width, SCALE, LOG_RATIO, key_of(stream, index, 0))
    return out


@settings(max_examples=400, deadline=None)
@given(height=st.integers(8, 800), width=st.integers(8, 800), out=st.integers(8, 256), key=st.integers(0, 2**40))
def test_a_reduced_decode_scale_is_chosen_only_when_every_crop_keeps_the_output_size(height, width, out, key):
    crops = _two_crops(height, width, key)
    denominator = decode_denominator(height, width, crops, out, out)

    def holds(d):
        rows, columns = scaled_side(height, d), scaled_side(width, d)
        return all(scaled_span(top, h, height, rows)[1] >= out and scaled_span(left, w, width, columns)[1] >= out
                   for top, left, h, w in crops)

    assert denominator in (1, 2, 4, 8)
    assert denominator == 1 or holds(denominator)
    assert not any(holds(d) for d in (2, 4, 8) if d > denominator)  # the smallest decode that holds
    for top, left, h, w in crops:  # a mapped crop stays inside the scaled image, never empty
        rows = scaled_side(height, denominator)
        first, length = scaled_span(top, h, height, rows)
        assert 0 <= first and length >= 1 and first + length <= rows
