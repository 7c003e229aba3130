"""FFCV loaders: the two-view SSL loader and single-view evaluation loaders.

The SSL views' random-resized crops happen in FFCV's compiled pipeline, both from one decode
of each image, seeded per image (pipelines.seeded_crop); their flips, photometric
augmentations and normalisation run on the device (pipelines.augment).
Batches arrive as uint8 (B, C, H, W) on ``device``: zero-copy views of FFCV's HWC buffers.
Image tensors live in FFCV's reused buffers: use or copy each before asking for the next
(copying every training batch would cost a pass over memory).  Labels are handed out as
owned copies, since callers keep them (the probes collect a whole split's labels), and a kept
buffer view would be overwritten by later batches.
"""
from __future__ import annotations

import torch

PROBE_CROP_STREAM = 1 << 20  # probe-training crops: a hash stream apart from the SSL views (ssl_view_streams)


def _image_tail(device: torch.device):
    """A uint8 batch of HWC images (or of (n, H, W, C) views) as a tensor, moved to the device
    when it is a GPU (FFCV's ImageNet recipe); ``channels_first`` then makes (B, C, H, W) views."""
    from ffcv.transforms import ToDevice, ToTensor

    to_gpu = [ToDevice(device, non_blocking=True)] if device.type == "cuda" else []
    return [ToTensor(), *to_gpu]


def channels_first(images: torch.Tensor) -> torch.Tensor:
    """(..., H, W, C) -> a zero-copy (..., C, H, W) view.  The training loop makes float
    copies in the model's memory format."""
    return images.movedim(-1, -3)


def _label_pipeline(device: torch.device):
    from ffcv.fields.decoders import IntDecoder
    from ffcv.transforms import Squeeze, ToDevice, ToTensor

    to_gpu = [ToDevice(device, non_blocking=True)] if device.type == "cuda" else []
    return [IntDecoder(), ToTensor(), Squeeze(1), *to_gpu]


class Batches:
    """Iterates an FFCV loader, handing out each batch rearranged by ``arrange`` (which
    also copies the label out of FFCV's buffers).

    FFCV 1.0.2 sets torch's intra-op thread count to its own worker count whenever an epoch
    starts (in the caller and in its iterator thread); the count the run asked for
    (``torch_threads``) is restored once the epoch's first batch has arrived.
    """

    def __init__(self, loader, torch_threads: int, arrange):
        self.loader, self.torch_threads, self.arrange = loader, torch_threads, arrange

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle (and crop, see pipelines.seeded_crop) the next pass as epoch ``epoch`` does."""
        self.loader.next_epoch = epoch

    def __iter__(self):
        for index, batch in enumerate(self.loader):
            if index == 0:
                torch.set_num_threads(self.torch_threads)
            yield self.arrange(batch)


def ssl_view_streams(seed: int) -> tuple[int, int]:
    """The hash streams of a run's two SSL views (pipelines.seeded_crop)."""
    return 2 * seed, 2 * seed + 1


def ssl_loader(path: str, batch_size: int, resolution: int, device: torch.device, *, seed: int,
               distributed: bool, workers: int = 1, crop_scale=(0.08, 1.0), scaled_decode: bool = True,
               indices=None, torch_threads: int | None = None) -> Batches:
    """Batches (view1, view2, label): two random-resized crops (scale 0.08-1) of the same
    images (the file's, or ``indices`` of them) from one decode of each, shuffled and cropped
    as ``seed`` says; sharded over the DDP ranks when ``distributed``.  ``scaled_decode``:
    decode JPEGs at a reduced scale when both crops still hold ``resolution`` (the same crops;
    see pipelines.seeded_crop)."""
    from ffcv.loader import Loader, OrderOption

    from pipelines.seeded_crop import SeededCrops

    views = SeededCrops((resolution, resolution), crop_scale, ssl_view_streams(seed), scaled_decode=scaled_decode)
    threads = torch_threads or torch.get_num_threads()
    loader = Loader(path, batch_size=batch_size, num_workers=workers, order=OrderOption.RANDOM, seed=seed,
                    distributed=distributed, drop_last=True, os_cache=True, indices=indices,
                    pipelines={"image": [views, *_image_tail(device)], "label": _label_pipeline(device)})

    def arrange(batch):
        both = channels_first(batch[0])
        return both[:, 0], both[:, 1], batch[1].clone()

    return Batches(loader, threads, arrange)


def eval_loader(path: str, batch_size: int, resolution: int, device: torch.device, *, train: bool,
                seed: int = 0, workers: int = 1, center_crop_ratio: float = 0.875, crop_scale=(0.08, 1.0),
                indices=None, torch_threads: int | None = None) -> Batches:
    """Single-view (image, label) batches over the file's samples (or ``indices`` of them).
    ``train`` (probe training): seeded random-resized crops in a seeded random order, both
    new each epoch (``set_epoch``; flips are the caller's); otherwise resize + center crop,
    in order (validation)."""
    from ffcv.fields.decoders import CenterCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption

    from pipelines.seeded_crop import SeededCrops

    if train:  # one view: (B, 1, H, W, C)
        image = SeededCrops((resolution, resolution), crop_scale, (PROBE_CROP_STREAM + seed,))
    else:
        image = CenterCropRGBImageDecoder((resolution, resolution), ratio=center_crop_ratio)
    threads = torch_threads or torch.get_num_threads()
    loader = Loader(path, batch_size=batch_size, num_workers=workers, seed=seed, drop_last=False, os_cache=True,
                    order=OrderOption.RANDOM if train else OrderOption.SEQUENTIAL, indices=indices,
                    pipelines={"image": [image, *_image_tail(device)], "label": _label_pipeline(device)})
    images = (lambda batch: channels_first(batch[0][:, 0])) if train else (lambda batch: channels_first(batch[0]))
    return Batches(loader, threads, lambda batch: (images(batch), batch[1].clone()))


def shard_indices(path: str, rank: int, world_size: int, sample: int | None = None, seed: int = 0):
    """This rank's share (every ``world_size``-th, from ``rank``) of a file's samples, or of
    a fixed seeded ``sample`` of them: the shards are disjoint and together hold each once."""
    import numpy as np
    from ffcv.reader import Reader

    from pipelines.splits import seeded_sample

    chosen = np.arange(int(Reader(path).num_samples), dtype=np.int64)
    if sample is not None:
        chosen = seeded_sample(chosen, sample, seed)
    return chosen[rank::world_size]
