"""A random-resized-crop decoder whose crops repeat from run to run.

FFCV's RandomResizedCropRGBImageDecoder draws its crops from numba's per-thread random
state, which nothing seeds, so no two runs (or a run and its resume) crop alike.  This
decoder draws each image's crop from a counter-based hash of the run's seed, the view,
the image's index and the index shuffled in just before it.  With FFCV's seeded RANDOM
order, the crops then repeat exactly across runs, resumes and loader thread counts, and
still change every epoch, because the order does.
"""
from __future__ import annotations

import numpy as np
from ffcv.fields.rgb_image import IMAGE_MODES, RandomResizedCropRGBImageDecoder
from ffcv.libffcv import imdecode, resize_crop
from ffcv.pipeline.compiler import Compiler
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit
def hashed_uniform(key: np.uint64, counter: int) -> float:
    """The ``counter``-th uniform draw in [0, 1) of stream ``key`` (SplitMix64's finaliser)."""
    x = key + np.uint64(counter + 1) * _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return float(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # top 53 bits


def random_resized_crop(height: int, width: int, scale, log_ratio, key: np.uint64):
    """(top, left, crop height, crop width) of a crop covering a uniform ``scale`` fraction
    of the area at a log-uniform aspect ratio; ten tries, then the largest central crop
    within the ratio range (Table S1's RandomResizedCrop)."""
    area = float(height) * float(width)
    for attempt in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * hashed_uniform(key, 4 * attempt))
        aspect = np.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * hashed_uniform(key, 4 * attempt + 1))
        crop_width, crop_height = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = int(hashed_uniform(key, 4 * attempt + 2) * (height - crop_height + 1))
            left = int(hashed_uniform(key, 4 * attempt + 3) * (width - crop_width + 1))
            return top, left, crop_height, crop_width
    narrowest, widest = np.exp(log_ratio[0]), np.exp(log_ratio[1])
    image_aspect = float(width) / float(height)
    if image_aspect < narrowest:
        crop_width, crop_height = width, int(round(width / narrowest))
    elif image_aspect > widest:
        crop_width, crop_height = int(round(height * widest)), height
    else:
        crop_width, crop_height = width, height
    return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def image_key(stream: int, index: int, previous: int) -> np.uint64:
    """The hash stream of one image's crop: ``stream`` (run seed and view), the image's
    index and its predecessor's in this epoch's order."""
    return (np.uint64(stream) * np.uint64(0xD1B54A32D192ED03) + np.uint64(index) * np.uint64(0x8CB92BA72F3D8DD7)
            + np.uint64(previous) * _GOLDEN)


class SeededRandomResizedCrop(RandomResizedCropRGBImageDecoder):
    """RandomResizedCrop (Table S1: scale ``scale``, aspect 3/4-4/3) to ``output_size``,
    drawn per image from a hash; ``stream`` tells apart runs and views."""

    def __init__(self, output_size: tuple[int, int], scale: tuple[float, float], stream: int):
        super().__init__(output_size, scale=scale)
        self.stream = stream

    def generate_code(self):
        jpg = IMAGE_MODES["jpg"]
        read = self.memory_read
        loop = Compiler.get_iterator()
        decode_jpeg, resize, crop, key_of = (Compiler.compile(f) for f in
                                             (imdecode, resize_crop, random_resized_crop, image_key))
        stream, scale, log_ratio = self.stream, np.array(self.scale), np.log(np.array(self.ratio))

        def decode(batch_indices, my_storage, metadata, storage_state):
            destination, scratch = my_storage
            for position in loop(len(batch_indices)):
                index = batch_indices[position]
                field = metadata[index]
                stored = read(field["data_ptr"], storage_state)
                height, width = np.uint32(field["height"]), np.uint32(field["width"])
                if field["mode"] == jpg:
                    image = scratch[position]
                    decode_jpeg(stored, image, height, width, height, width, 0, 0, 1, 1, False, False)
                    image = image.reshape(-1)[:3 * height * width].reshape(height, width, 3)
                else:
                    image = stored.reshape(height, width, 3)
                key = key_of(stream, index, batch_indices[position - 1])
                top, left, crop_height, crop_width = crop(height, width, scale, log_ratio, key)
                resize(image, top, top + crop_height, left, left + crop_width, destination[position])
            return destination[:len(batch_indices)]

        decode.is_parallel = True
        return decode
