"""The seeded random-resized crop: inside the image, repeatable per key, and drawn from the
same distribution as FFCV's own (unseeded) RandomResizedCrop."""
import numpy as np
from ffcv.fields import rgb_image
from numba import njit

from pipelines.seeded_crop import image_key, random_resized_crop

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
