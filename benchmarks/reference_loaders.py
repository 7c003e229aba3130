"""The loaders the shipped SSL loader is measured and tested against, kept out of the product:
the decode ceiling (every image decoded once, nothing cropped) and the loader as it was before
one decode served both views (a pipeline per view)."""
from __future__ import annotations

import torch

from pipelines.loaders import Batches, _image_tail, _label_pipeline, channels_first, ssl_view_streams


def decode_only_loader(path: str, batch_size: int, workers: int) -> Batches:
    """Every image read and decoded once (JPEGs in full), no crop: the loader's ceiling."""
    from ffcv.loader import Loader, OrderOption

    from pipelines.seeded_crop import SeededCrops

    loader = Loader(path, batch_size=batch_size, num_workers=workers, order=OrderOption.RANDOM, seed=0,
                    drop_last=True, os_cache=True,
                    pipelines={"image": [SeededCrops((1, 1), (0.08, 1.0), (), scaled_decode=False)], "label": None})
    return Batches(loader, torch.get_num_threads(), lambda batch: (batch[0], batch[0], None))


def per_view_loader(path: str, batch_size: int, resolution: int, *, seed: int, workers: int = 1,
                    crop_scale=(0.08, 1.0)) -> Batches:
    """The SSL loader as it was before one decode served both views: a pipeline per view,
    each decoding every image in full.  The same crops as ``ssl_loader``; kept as the
    reference that the loader benchmark and the one-decode test compare against (CPU)."""
    from ffcv.loader import Loader, OrderOption
    from ffcv.pipeline import PipelineSpec

    from pipelines.seeded_crop import SeededCrops

    cpu = torch.device("cpu")

    def view(stream: int) -> PipelineSpec:
        crop = SeededCrops((resolution, resolution), crop_scale, (stream,), scaled_decode=False)
        return PipelineSpec("image", crop, _image_tail(cpu))

    first, second = ssl_view_streams(seed)
    loader = Loader(path, batch_size=batch_size, num_workers=workers, order=OrderOption.RANDOM, seed=seed,
                    drop_last=True, os_cache=True,
                    pipelines={"view1": view(first), "view2": view(second), "image": None,
                               "label": _label_pipeline(cpu)})
    # FFCV yields the file's own fields first (label), then the added outputs (view1, view2).
    return Batches(loader, torch.get_num_threads(),
                   lambda batch: (channels_first(batch[1][:, 0]), channels_first(batch[2][:, 0]), batch[0].clone()))
