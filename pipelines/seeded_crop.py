"""Random-resized-crop decoders whose crops repeat from run to run.

FFCV's RandomResizedCropRGBImageDecoder draws its crops from numba's per-thread random
state, which nothing seeds, so no two runs (or a run and its resume) crop alike.  These
decoders draw each image's crop from a counter-based hash of the run's seed, the view,
the image's index and the index shuffled in just before it.  With FFCV's seeded RANDOM
order, the crops then repeat exactly across runs, resumes and loader thread counts, and
still change every epoch, because the order does.

``SeededCrops`` writes every view of an image (both SSL views; the probes' one training
crop) from one decode, and decodes a JPEG at 1/2, 1/4 or 1/8 scale (libjpeg-turbo's DCT
scaling) when every crop, mapped onto the smaller image, still holds the output resolution:
the same crops as a full decode, from fewer decoded pixels.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from ffcv.fields.rgb_image import IMAGE_MODES, SimpleRGBImageDecoder
from ffcv.libffcv import ctypes_imdecode, resize_crop
from ffcv.pipeline.allocation_query import AllocationQuery
from ffcv.pipeline.compiler import Compiler
from numba import njit

DECODE_DENOMINATORS = (8, 4, 2)
"""The reduced JPEG decode scales tried, smallest image first (1/8, 1/4, 1/2; else full size)."""

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


def decode_jpeg(source, destination, height: int, width: int, denominator: int) -> int:
    """libjpeg-turbo's decode of a whole JPEG at 1/``denominator`` scale into ``destination``,
    through libffcv's C entry point.  Not FFCV's ``imdecode`` wrapper: its numba dispatchers
    would share overloads with FFCV's own decoders' (literal scale 1), and numba's finalizer
    then fails on them when a loader is collected."""
    return ctypes_imdecode(source.ctypes.data, source.size, height, width, destination.ctypes.data, height, width,
                           0, 0, 1, denominator, False, False)


@njit
def scaled_side(size: int, denominator: int) -> int:
    """A side of ``size`` pixels decoded at 1/``denominator`` (libjpeg-turbo's TJSCALED rounds up)."""
    return (size + denominator - 1) // denominator


@njit
def scaled_span(start: int, length: int, size: int, scaled: int):
    """(start, length) of the span [start, start + length) of a side of ``size`` pixels, mapped
    onto the same side decoded at ``scaled`` pixels: ends rounded to the nearest pixel edge
    (each moves by at most half a scaled pixel), never empty, never outside."""
    first = min(int(np.floor(start * scaled / size + 0.5)), scaled - 1)
    last = max(min(int(np.floor((start + length) * scaled / size + 0.5)), scaled), first + 1)
    return first, last - first


@njit
def decode_denominator(height: int, width: int, crops, out_height: int, out_width: int, largest: int = 8) -> int:
    """The largest of ``DECODE_DENOMINATORS`` (up to ``largest``) at which every crop (rows of
    top, left, height, width), mapped onto the scaled image, still holds ``out_height`` x
    ``out_width`` pixels; 1 (full size) when none does, so no crop is ever upsampled that a
    full decode would not."""
    for denominator in DECODE_DENOMINATORS:
        if denominator > largest:
            continue
        rows, columns = scaled_side(height, denominator), scaled_side(width, denominator)
        holds = True
        for view in range(crops.shape[0]):
            top, left, crop_height, crop_width = crops[view]
            if (scaled_span(top, crop_height, height, rows)[1] < out_height
                    or scaled_span(left, crop_width, width, columns)[1] < out_width):
                holds = False
        if holds:
            return denominator
    return 1


class SeededCrops(SimpleRGBImageDecoder):  # FFCV takes an image field's decoder by its class
    """Views of each image from one decode: per sample an (n, H, W, 3) uint8 array, view ``v``
    a random-resized crop (Table S1: ``scale`` of the area, aspect ``ratio``) to ``output_size``,
    drawn from hash stream ``streams[v]``.  The SSL loader asks for two views, probe training
    for one.  ``scaled_decode``: decode a JPEG at the smallest scale that keeps every crop at
    least ``output_size`` (see decode_denominator); the crops are drawn on the full size first,
    so they are the same crops either way."""

    def __init__(self, output_size: tuple[int, int], scale: tuple[float, float], streams: tuple[int, ...],
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), scaled_decode: bool = True):
        super().__init__()
        self.output_size, self.scale, self.ratio = output_size, scale, ratio
        self.streams, self.scaled_decode = streams, scaled_decode

    def declare_state_and_memory(self, previous_state):
        views = (len(self.streams), self.output_size[0], self.output_size[1], 3)
        largest = int(self.metadata["height"].max()) * int(self.metadata["width"].max()) * 3
        return (replace(previous_state, jit_mode=True, shape=views, dtype=np.dtype("<u1")),
                (AllocationQuery(views, np.dtype("<u1")), AllocationQuery((largest,), np.dtype("<u1"))))

    def generate_code(self):
        jpg = IMAGE_MODES["jpg"]
        read = self.memory_read
        loop = Compiler.get_iterator()
        jpeg, resize, crop, key_of = (Compiler.compile(f) for f in
                                      (decode_jpeg, resize_crop, random_resized_crop, image_key))
        scale, log_ratio = np.array(self.scale), np.log(np.array(self.ratio))
        streams = np.array(self.streams, dtype=np.int64)
        out_height, out_width = self.output_size
        largest = max(DECODE_DENOMINATORS) if self.scaled_decode else 1  # not a branch: numba prunes those

        def decode(batch_indices, my_storage, metadata, storage_state):
            destination, scratch = my_storage
            for position in loop(len(batch_indices)):
                index = batch_indices[position]
                field = metadata[index]
                stored = read(field["data_ptr"], storage_state)
                height, width = np.uint32(field["height"]), np.uint32(field["width"])
                crops = np.empty((len(streams), 4), dtype=np.int64)
                for view in range(len(streams)):
                    crops[view] = crop(height, width, scale, log_ratio,
                                       key_of(streams[view], index, batch_indices[position - 1]))
                rows, columns = height, width
                if field["mode"] == jpg:
                    denominator = decode_denominator(height, width, crops, out_height, out_width, largest)
                    rows, columns = scaled_side(height, denominator), scaled_side(width, denominator)
                    image = scratch[position]
                    jpeg(stored, image, height, width, denominator)
                    image = image.reshape(-1)[:3 * rows * columns].reshape(rows, columns, 3)
                else:
                    image = stored.reshape(height, width, 3)
                for view in range(len(streams)):
                    top, crop_rows = scaled_span(crops[view, 0], crops[view, 2], height, rows)
                    left, crop_columns = scaled_span(crops[view, 1], crops[view, 3], width, columns)
                    resize(image, top, top + crop_rows, left, left + crop_columns, destination[position, view])
            return destination[:len(batch_indices)]

        decode.is_parallel = True
        return decode
