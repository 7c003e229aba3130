"""One trial: the Tune function trainable that runs one pretraining.

A one-worker trial trains in the Tune trial's own process (``TuneTrialSession``); a
multi-worker trial runs a Ray Train DDP worker group (``TorchTrainer``), whose per-epoch
reports reach Tune through ``TuneReportCallback``.  It lives in an importable module so
``Tuner.restore`` can find it.  The Train run is named after the campaign and the Tune
trial id, so a new trial never loads another's checkpoint.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

import ray.train
import torch
from ray import tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback
from torch import nn

from tuning.campaign.records.results import recorded_epochs
from tuning.campaign.services.capacity import DEFAULT_CAPACITY_WAIT_S, fit_while_it_fits
from tuning.campaign.services.cluster import runs_in_trial_process
from tuning.campaign.space import SearchSpace
from tuning.campaign.tune_results import with_epoch_clock
from tuning.config import PretrainConfig
from tuning.run.checkpoints import newest_checkpoint
from tuning.run.data import PreparedData
from tuning.run.loop import RunRequest, pretrain, train_worker
from tuning.run.sessions import checkpoint_as_directory


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a campaign shares: the campaign's name, its checked data, and
    Ray's storage (a path or URI every node reaches) for multi-worker Train runs."""
    campaign: str
    data: PreparedData
    storage: str
    capacity_wait_s: float = DEFAULT_CAPACITY_WAIT_S  # how long a worker group waits for room before the trial ends


class TuneTrialSession:
    """A single-worker run inside the Tune trial process: no DDP, no worker group."""

    rank, world_size = 0, 1

    def __init__(self, use_gpu: bool):
        self.device = torch.device("cuda", 0) if use_gpu else torch.device("cpu")

    def prepare_model(self, network: nn.Module) -> nn.Module:
        return network.to(self.device)

    def resume_directory(self) -> ContextManager[Path | None]:
        """The newest checkpoint stored for this trial, not only the one Tune's experiment
        state recorded (a driver killed just after a report leaves the trial's last
        checkpoint unrecorded)."""
        storage = tune.get_context().get_storage()
        stored = newest_checkpoint(storage.trial_fs_path, storage.storage_filesystem)
        return checkpoint_as_directory(tune.Checkpoint(stored, filesystem=storage.storage_filesystem) if stored
                                       else tune.get_checkpoint())

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(with_epoch_clock(metrics), checkpoint=checkpoint)

    def recorded(self, epoch: int) -> bool:
        """Whether the trial's result.json holds ``epoch``: an epoch reported as the campaign
        stopped (or as its node went) may have its checkpoint stored but its report unrecorded."""
        storage = tune.get_context().get_storage()
        return epoch in recorded_epochs(storage.storage_filesystem, storage.trial_fs_path)


class EpochClockReport(TuneReportCallback):
    """Ray Train's reports to Tune with Tune's iteration set to the epoch (see ``with_epoch_clock``)."""

    def after_report(self, run_context, metrics: list[dict], checkpoint) -> None:
        super().after_report(run_context, [with_epoch_clock(metrics[0]), *metrics[1:]], checkpoint)


def build_trainer(cfg: PretrainConfig, request: RunRequest, run_name: str, storage_path: str,
                  callbacks: list | None = None) -> TorchTrainer:
    """A TorchTrainer for ``cfg``: its workers, resources, checkpoint retention and retries."""
    resources = {"CPU": cfg.resources.cpus_per_worker}
    if cfg.resources.gpus_per_worker:
        resources["GPU"] = cfg.resources.gpus_per_worker
    return TorchTrainer(
        train_worker,
        train_loop_config=request.to_loop_config(),
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.resources.workers,
                                               use_gpu=cfg.resources.gpus_per_worker > 0,
                                               resources_per_worker=resources,
                                               placement_strategy=cfg.resources.placement_strategy),
        run_config=ray.train.RunConfig(
            name=run_name, storage_path=storage_path, callbacks=callbacks or [],
            failure_config=ray.train.FailureConfig(max_failures=cfg.checkpoint.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.checkpoint.keep_last)),
    )


def run_trial(sampled: dict[str, Any], *, space: SearchSpace, context: TrialContext) -> None:
    """Tune function trainable: the space's config for the sampled values -> one pretraining."""
    request = RunRequest(config=space.trial_config(sampled), data=context.data, requested_at=time.time())
    cfg = request.config
    if runs_in_trial_process(cfg):
        pretrain(request, TuneTrialSession(use_gpu=cfg.resources.gpus_per_worker > 0))
        return
    trial_id = tune.get_context().get_trial_id()
    trainer = build_trainer(cfg, request, f"{context.campaign}-{trial_id}", context.storage,
                            callbacks=[EpochClockReport()])
    fit_while_it_fits(trainer, cfg, context.capacity_wait_s)
