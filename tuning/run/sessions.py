"""Where the training loop runs.  The loop needs six things of its session (``Session``):
its rank and world size, its device, a way to wrap the model, the checkpoint to resume
from, a way to report an epoch, and whether an epoch's report is already on record.

``TrainWorkerSession`` is one rank of a Ray Train worker group (DDP, any number of
workers); ``LocalSession`` is one process without Ray (tests, benchmarks).  The Tune
trial's own process has its session in tuning.campaign.search.trial.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import ContextManager, Iterator, Protocol

import torch
from torch import nn

from tuning.run.checkpoints import newest_checkpoint


class Session(Protocol):
    """What the training loop needs of the process it runs in."""
    rank: int
    world_size: int

    @property
    def device(self) -> torch.device: ...

    def prepare_model(self, network: nn.Module) -> nn.Module:
        """The network on the device, wrapped for data parallelism where there is any."""

    def resume_directory(self) -> ContextManager[Path | None]:
        """A context giving the local folder of the checkpoint to resume from, or None."""

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        """Report one epoch's metrics (and a checkpoint folder to keep)."""

    def recorded(self, epoch: int) -> bool:
        """Whether the records the reports feed already hold ``epoch`` (1-based): a run resumed
        from a checkpoint whose report never reached them (it was saved as the campaign
        stopped) reports that epoch again before it trains on."""


@contextlib.contextmanager
def checkpoint_as_directory(checkpoint) -> Iterator[Path | None]:
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

    def prepare_model(self, network: nn.Module) -> nn.Module:
        """Move to the device and wrap in DistributedDataParallel."""
        import ray.train.torch

        return ray.train.torch.prepare_model(network)

    def resume_directory(self) -> ContextManager[Path | None]:
        import ray.train

        return checkpoint_as_directory(ray.train.get_checkpoint())

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)

    def recorded(self, epoch: int) -> bool:
        return True  # Ray Train resumes a worker group from the checkpoint it recorded with its report


class LocalSession:
    """One process, no Ray: reports are kept in ``reports``; checkpoints are copied into
    ``checkpoint_root`` (when given) and the newest one there is resumed from."""

    rank, world_size = 0, 1

    def __init__(self, device: torch.device | str = "cpu", checkpoint_root: Path | None = None):
        self._device = torch.device(device)
        self.checkpoint_root = Path(checkpoint_root) if checkpoint_root else None
        self.reports: list[dict] = []

    @property
    def device(self) -> torch.device:
        return self._device

    def prepare_model(self, network: nn.Module) -> nn.Module:
        return network.to(self.device)

    @contextlib.contextmanager
    def resume_directory(self) -> Iterator[Path | None]:
        newest = newest_checkpoint(self.checkpoint_root) if self.checkpoint_root else None
        yield Path(newest) if newest else None

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir is not None and self.checkpoint_root is not None:
            shutil.copytree(checkpoint_dir, self.checkpoint_root / f"checkpoint_{len(self.reports):06d}")

    def recorded(self, epoch: int) -> bool:
        return any(report.get("epoch") == epoch for report in self.reports)
