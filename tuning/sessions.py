"""Where the training loop runs: in a Ray Train worker (DDP, any number of workers) or
directly in the Tune trial's own process (one worker, no worker group to start).

Both give the loop the same five things: its rank and world size, its device, a way to
wrap the model, the checkpoint to resume from, and a way to report an epoch.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from tuning.checkpoints import newest_checkpoint


@contextlib.contextmanager
def _as_directory(checkpoint) -> Iterator[Path | None]:
    """A Ray checkpoint as a local folder for the duration of the context (None stays None)."""
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield Path(directory)


class TrainWorkerSession:
    """One rank of a Ray Train worker group (gloo on CPU, NCCL on CUDA)."""

    def __init__(self):
        import ray.train

        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()

    @property
    def device(self) -> torch.device:
        import ray.train.torch

        return ray.train.torch.get_device()

    def prepare_model(self, net: nn.Module) -> nn.Module:
        """Move to the device and wrap in DistributedDataParallel."""
        import ray.train.torch

        return ray.train.torch.prepare_model(net)

    def resume_directory(self):
        """A context giving the local folder of the checkpoint to resume from, or None."""
        import ray.train

        return _as_directory(ray.train.get_checkpoint())

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)


class TuneTrialSession:
    """A single-worker run inside the Tune trial process: no DDP, no worker group."""

    rank, world_size = 0, 1

    def __init__(self, use_gpu: bool):
        self.device = torch.device("cuda", 0) if use_gpu else torch.device("cpu")

    def prepare_model(self, net: nn.Module) -> nn.Module:
        return net.to(self.device)

    def resume_directory(self):
        """A context giving the local folder of the checkpoint to resume from, or None: the
        newest one stored for this trial, not only the one Tune's experiment state recorded
        (a driver killed just after a report leaves the trial's last checkpoint unrecorded)."""
        from ray import tune

        storage = tune.get_context().get_storage()
        stored = newest_checkpoint(storage.trial_fs_path, storage.storage_filesystem)
        return _as_directory(tune.Checkpoint(stored, filesystem=storage.storage_filesystem) if stored
                             else tune.get_checkpoint())

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)
