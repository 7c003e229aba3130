"""One trial: the Tune function trainable that runs one pretraining.

A one-worker trial trains in the Tune trial's own process; a multi-worker trial runs a
Ray Train DDP worker group (``TorchTrainer``), whose per-epoch reports reach Tune through
``TuneReportCallback``.  It lives in an importable module so ``Tuner.restore`` can find
it.  The Train run is named after the campaign and the Tune trial id, so a new trial never
loads another's checkpoint.
"""
from __future__ import annotations

import time
from typing import Any

import ray.train
from ray import tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from search_spaces.loader import SearchSpace
from tuning.cluster import runs_in_trial_process
from tuning.config import PretrainConfig
from tuning.sessions import TuneTrialSession
from tuning.train_loop import pretrain, train_worker


def build_trainer(cfg: PretrainConfig, loop_config: dict, run_name: str, storage_path: str,
                  callbacks: list | None = None) -> TorchTrainer:
    """A TorchTrainer for ``cfg``: its workers, resources, checkpoint retention and retries."""
    resources = {"CPU": cfg.resources.cpus_per_worker}
    if cfg.resources.gpus_per_worker:
        resources["GPU"] = cfg.resources.gpus_per_worker
    return TorchTrainer(
        train_worker,
        train_loop_config=loop_config,
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.resources.workers,
                                               use_gpu=cfg.resources.gpus_per_worker > 0,
                                               resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=run_name, storage_path=storage_path, callbacks=callbacks or [],
            failure_config=ray.train.FailureConfig(max_failures=cfg.checkpoint.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.checkpoint.keep_last)),
    )


def run_trial(sampled: dict[str, Any], *, space: SearchSpace, campaign: dict[str, Any]) -> None:
    """Tune function trainable: the space's config for the sampled values -> one pretraining."""
    started = time.time()
    trial_id = tune.get_context().get_trial_id()
    cfg = space.trial_config(sampled)
    loop_config = {"config": cfg.model_dump(mode="json"), "data": campaign["data"], "trial_started_at": started}
    if runs_in_trial_process(cfg):
        pretrain(loop_config, TuneTrialSession(use_gpu=cfg.resources.gpus_per_worker > 0))
        return
    trainer = build_trainer(cfg, loop_config, f"{campaign['name']}-{trial_id}", campaign["storage_path"],
                            callbacks=[TuneReportCallback()])
    trainer.fit()
