"""FFCV loaders: the two-view SSL loader and single-view evaluation loaders.

The SSL views' random-resized crops happen in FFCV's compiled pipeline; their flips,
photometric augmentations and normalisation run on the device (pipelines.augment).  Batches arrive as uint8 NCHW on
``device``.
"""
from __future__ import annotations

import torch


def _image_tail(device: torch.device, channels_last: bool):
    from ffcv.transforms import ToDevice, ToTensor, ToTorchImage

    return [ToTensor(), ToTorchImage(channels_last=channels_last),
            ToDevice(device, non_blocking=device.type == "cuda")]


def _label_pipeline(device: torch.device):
    from ffcv.fields.decoders import IntDecoder
    from ffcv.transforms import Squeeze, ToDevice, ToTensor

    return [IntDecoder(), ToTensor(), Squeeze(1), ToDevice(device, non_blocking=device.type == "cuda")]


def ssl_loader(path: str, batch_size: int, resolution: int, device: torch.device, *, seed: int,
               distributed: bool, workers: int = 1, channels_last: bool = False, crop_scale=(0.08, 1.0)):
    """Batches (view1, view2, label): two random-resized crops (scale 0.08-1) of the same
    images, shuffled with ``seed``; sharded over the DDP ranks when ``distributed``."""
    from ffcv.fields.decoders import RandomResizedCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption
    from ffcv.pipeline import PipelineSpec

    def view():
        return PipelineSpec("image", RandomResizedCropRGBImageDecoder((resolution, resolution), scale=crop_scale),
                            _image_tail(device, channels_last))

    loader = Loader(path, batch_size=batch_size, num_workers=workers, order=OrderOption.RANDOM, seed=seed,
                    distributed=distributed, drop_last=True, os_cache=True,
                    pipelines={"view1": view(), "view2": view(), "image": None, "label": _label_pipeline(device)})
    return TwoViews(loader)


class TwoViews:
    """Iterates an FFCV loader as (view1, view2, label).  FFCV yields the file's own fields
    first (``label``) and the added outputs after (``view1``, ``view2``)."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for label, view1, view2 in self.loader:
            yield view1, view2, label


def eval_loader(path: str, batch_size: int, resolution: int, device: torch.device, *, train: bool,
                seed: int = 0, workers: int = 1, center_crop_ratio: float = 0.875, channels_last: bool = False):
    """Single-view (image, label) batches over the whole file, in order: random-resized crop
    and flip when ``train`` (probe training), resize + center crop otherwise (validation)."""
    from ffcv.fields.decoders import CenterCropRGBImageDecoder, RandomResizedCropRGBImageDecoder
    from ffcv.loader import Loader, OrderOption
    from ffcv.transforms import RandomHorizontalFlip

    if train:
        image = [RandomResizedCropRGBImageDecoder((resolution, resolution)), RandomHorizontalFlip()]
    else:
        image = [CenterCropRGBImageDecoder((resolution, resolution), ratio=center_crop_ratio)]
    return Loader(path, batch_size=batch_size, num_workers=workers, order=OrderOption.SEQUENTIAL, seed=seed,
                  drop_last=False, os_cache=True,
                  pipelines={"image": image + _image_tail(device, channels_last), "label": _label_pipeline(device)})
