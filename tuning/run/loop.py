"""The one training loop: every method, every trial, CPU/gloo or CUDA/NCCL, in a Ray Train
worker group or (one worker) directly in the Tune trial's process.

Each epoch ends in one report (one Tune iteration, what ASHA and Optuna see); the last
epoch's report also carries the offline linear probe and k-NN accuracy.  The first
epoch's report itemises the run's fixed start-up costs (``startup_*`` metrics).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from models.gather import gather_batch
from models.health import normalized_embedding_std, rankme
from models.lars import LARS, lars_param_groups
from models.probes import topk_correct
from models.registry import LossOutput, build_loss
from models.schedules import scaled_lr, warmup_cosine
from pipelines.augment import augment_view, model_input, normalize
from pipelines.loaders import eval_loader, ssl_loader
from pipelines.splits import seeded_sample
from tuning.config import OptimConfig, PretrainConfig, validate_config
from tuning.run import checkpoints, reports
from tuning.run.data import PreparedData
from tuning.run.evaluation import extract_features, final_evaluation
from tuning.run.model import build_network
from tuning.run.precision import autocast_dtype, needs_grad_scaler
from tuning.run.rung_probes import RungProbes
from tuning.run.sessions import Session, TrainWorkerSession

logger = logging.getLogger("dualtune")


def build_optimizer(optim: OptimConfig, module: nn.Module, lr: float) -> torch.optim.Optimizer:
    """LARS, SGD or AdamW over ``module``; biases and norm parameters get no weight decay."""
    groups = lars_param_groups(module)
    groups[0]["weight_decay"] = optim.weight_decay
    if optim.name == "lars":
        return LARS(groups, lr=lr, weight_decay=optim.weight_decay, momentum=optim.momentum, eta=optim.eta)
    if optim.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=optim.weight_decay)


def _all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor.tolist()


@dataclass(frozen=True)
class RunRequest:
    """One pretraining: its config, its checked data, and when its process was asked to
    start (for the ``startup_worker_s`` metric)."""
    config: PretrainConfig
    data: PreparedData
    requested_at: float

    def to_loop_config(self) -> dict[str, Any]:
        """Plain data for Ray Train's ``train_loop_config``."""
        return {"config": self.config.model_dump(mode="json"), "data": dataclasses.asdict(self.data),
                "requested_at": self.requested_at}

    @classmethod
    def from_loop_config(cls, loop_config: dict[str, Any]) -> RunRequest:
        return cls(validate_config(loop_config["config"]), PreparedData(**loop_config["data"]),
                   loop_config["requested_at"])


@dataclass
class EpochTotals:
    """Sums over one epoch's steps on this rank."""
    loss: float = 0.0
    steps: int = 0
    seen: int = 0
    data_wait_s: float = 0.0
    first_batch_s: float = 0.0
    hits: dict[str, float] = field(default_factory=dict)
    terms: dict[str, float] = field(default_factory=dict)
    diverged: bool = False
    lr: float = 0.0
    last_embeddings: torch.Tensor | None = None


class Pretraining:
    """Model, optimisers, loader and loss of one run, built for one session."""

    def __init__(self, cfg: PretrainConfig, data: PreparedData, session: Session):
        self.cfg, self.data, self.session = cfg, data, session
        self.device = session.device
        self.memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format
        self.precision = autocast_dtype(cfg.resources.precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=needs_grad_scaler(self.precision))
        torch.set_num_threads(cfg.resources.torch_threads)
        torch.manual_seed(cfg.seed)
        if cfg.ablation_warning() and session.rank == 0:
            logger.warning(cfg.ablation_warning())
        self._build_network()
        self.model_built_at = time.time()
        self._build_loaders()
        self.steps_per_epoch = len(self.loader)
        if self.steps_per_epoch == 0:
            raise ValueError(f"data.batch_size={cfg.data.batch_size} is larger than the training set")
        self.total_steps = cfg.schedule.epochs * self.steps_per_epoch
        self.warmup_steps = int(min(cfg.schedule.warmup_epochs, 0.1 * cfg.schedule.epochs) * self.steps_per_epoch)
        self.generator = torch.Generator(device=self.device)
        self.view_augmentations = cfg.data.augment.views()
        self.history: list[dict] = []  # every epoch's report so far, saved with each checkpoint

    def _build_network(self) -> None:
        cfg = self.cfg
        # ``network`` holds the parameters (checkpoints, optimisers); ``wrapped`` is what the
        # step calls: the network on its device, in DDP when distributed, compiled if asked.
        self.network = build_network(cfg, self.data.num_classes).to(memory_format=self.memory_format)
        if cfg.model.sync_batchnorm and self.session.world_size > 1:
            self.network = nn.SyncBatchNorm.convert_sync_batchnorm(self.network)
        self.wrapped = self.session.prepare_model(self.network)
        if cfg.model.compile:
            self.wrapped = torch.compile(self.wrapped)
        self.loss_fn = build_loss(cfg.loss.method, cfg.loss.params)
        self.peak_lr = cfg.effective_lr()
        self.ssl_optimizer = build_optimizer(
            cfg.optim, nn.ModuleList([self.network.backbone, self.network.projector]), self.peak_lr)
        # The probes' lr scales with the global batch, as every lr here: a batch-4096 trial takes
        # 16x fewer probe steps per epoch than a batch-256 one, each 16x larger.
        probe_lr = scaled_lr(cfg.probe.online_lr, cfg.data.batch_size)
        factors = {"online_bn": cfg.probe.online_bn_lr_factor}
        self.probe_optimizer = torch.optim.AdamW(
            [{"params": probe.parameters(), "lr": probe_lr * factors.get(name, 1.0)}
             for name, probe in self.network.probes.items()], lr=probe_lr)

    def _build_loaders(self) -> None:
        cfg, world, rank = self.cfg, self.session.world_size, self.session.rank
        common = dict(resolution=cfg.data.resolution, device=self.device, workers=cfg.data.loader_workers,
                      torch_threads=cfg.resources.torch_threads)
        split = self.data.split()
        # Pretraining reads the fit part of train only; select is what choices are scored on.
        self.loader = ssl_loader(self.data.train, cfg.data.batch_size // world, seed=cfg.seed, distributed=world > 1,
                                 crop_scale=(cfg.data.augment.crop_scale_min, 1.0), indices=split.fit, **common)
        # The online probes are scored every epoch on this rank's share of select.
        self.select_loader = eval_loader(self.data.train, max(1, cfg.data.batch_size // world), train=False,
                                         center_crop_ratio=cfg.data.center_crop_ratio,
                                         indices=split.select[rank::world], **common)
        self.rung_probes = None
        if rank == 0 and cfg.probe.rung_bank_images > 0:
            bank = seeded_sample(split.fit, cfg.probe.rung_bank_images, cfg.data.select_seed)
            probe_batch = cfg.probe.offline_batch_size
            self.rung_probes = RungProbes(
                eval_loader(self.data.train, probe_batch, train=False, center_crop_ratio=cfg.data.center_crop_ratio,
                            indices=bank, **common),
                eval_loader(self.data.train, probe_batch, train=False, center_crop_ratio=cfg.data.center_crop_ratio,
                            indices=split.select, **common), self.data.num_classes)

    def _autocast(self):
        """Autocast to the run's dtype (bf16 or fp16) when it uses one, else nothing."""
        if self.precision:
            return torch.autocast(self.device.type, dtype=self.precision)
        return contextlib.nullcontext()

    def state(self, epoch: int) -> dict:
        return {"model": self.network.state_dict(), "ssl_optimizer": self.ssl_optimizer.state_dict(),
                "probe_optimizer": self.probe_optimizer.state_dict(), "grad_scaler": self.scaler.state_dict(),
                "epoch": epoch}

    def load_state(self, state: dict) -> int:
        """Restore a checkpoint's state; returns the epoch to start from."""
        self.network.load_state_dict(state["model"])
        self.ssl_optimizer.load_state_dict(state["ssl_optimizer"])
        self.probe_optimizer.load_state_dict(state["probe_optimizer"])
        if state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])
        return int(state["epoch"]) + 1

    def _views(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        first, second = self.view_augmentations
        images = torch.cat([normalize(augment_view(view1, first, self.generator)),
                            normalize(augment_view(view2, second, self.generator))])
        return images.contiguous(memory_format=self.memory_format)

    def train_epoch(self, epoch: int) -> EpochTotals:
        """One pass over this rank's shard: SSL loss on the global batch, probes on the views."""
        cfg = self.cfg
        self.generator.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + self.session.rank)
        self.loader.set_epoch(epoch)
        totals = EpochTotals()
        tick = time.perf_counter()
        for step_in_epoch, (view1, view2, labels) in enumerate(self.loader):
            waited = time.perf_counter() - tick
            totals.data_wait_s += waited
            if step_in_epoch == 0:
                totals.first_batch_s = waited
            totals.lr = warmup_cosine(epoch * self.steps_per_epoch + step_in_epoch, self.total_steps,
                                      self.warmup_steps, self.peak_lr, cfg.schedule.final_lr_ratio)
            if not self._step(view1, view2, labels, totals):
                totals.diverged = True
                break
            tick = time.perf_counter()
        return totals

    def _step(self, view1: torch.Tensor, view2: torch.Tensor, labels: torch.Tensor, totals: EpochTotals) -> bool:
        """One optimisation step at ``totals.lr``, counted into ``totals``; False (and no
        update) when the loss is not finite."""
        for group in self.ssl_optimizer.param_groups:
            group["lr"] = totals.lr
        with self._autocast():
            _, embeddings, logits = self.wrapped(self._views(view1, view2))
        z1, z2 = embeddings.float().chunk(2)
        gradient = self.cfg.loss.gather
        ssl = self.loss_fn(gather_batch(z1, gradient), gather_batch(z2, gradient))
        if not torch.isfinite(ssl.total):
            return False
        both_labels = torch.cat([labels, labels])
        probe_loss = sum(F.cross_entropy(head.float(), both_labels) for head in logits.values())
        self.ssl_optimizer.zero_grad(set_to_none=True)
        self.probe_optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(ssl.total + probe_loss).backward()  # unscaled where no scaler is needed
        self.scaler.step(self.ssl_optimizer)
        self.scaler.step(self.probe_optimizer)
        self.scaler.update()
        self._accumulate(totals, ssl, logits, labels)
        totals.last_embeddings = z1.detach()
        return True

    @staticmethod
    def _accumulate(totals: EpochTotals, ssl: LossOutput, logits: dict[str, torch.Tensor],
                    labels: torch.Tensor) -> None:
        totals.loss += float(ssl.total.detach())
        totals.steps += 1
        totals.seen += len(labels)
        for name, head in logits.items():
            hits = topk_correct(head[: len(labels)].detach(), labels)
            for k, count in hits.items():
                key = reports.online_top(k, name, split="train")
                totals.hits[key] = totals.hits.get(key, 0.0) + count
        for name, value in ssl.terms.items():  # from the loss's own pass, not computed again
            totals.terms[name] = totals.terms.get(name, 0.0) + float(value.detach())

    @torch.no_grad()
    def validate(self) -> tuple[dict[str, float], int]:
        """The online probes' top-1/top-5 hits on this rank's share of select (centre crops),
        and how many images it holds."""
        self.network.eval()
        hits = {reports.online_top(k, name): 0.0 for name in self.network.probes for k in (1, 5)}  # same on every rank
        count = 0
        for images, labels in self.select_loader:
            with self._autocast():
                _, _, logits = self.network(model_input(images, self.memory_format))
            for name, head in logits.items():
                for k, found in topk_correct(head.float(), labels).items():
                    hits[reports.online_top(k, name)] += found
            count += len(labels)
        self.network.train()
        return hits, count

    def epoch_metrics(self, epoch: int, totals: EpochTotals, epoch_time: float) -> dict:
        """The epoch's report: the online probes scored on select, and sums over ranks turned
        into means and rates."""
        select_start = time.perf_counter()
        # Scored even when the loss diverged (the failed step changed no weight): every report
        # carries the metric the search reads.
        select_hits, select_count = self.validate()
        select_time = time.perf_counter() - select_start
        hits = {**totals.hits, **select_hits}
        hit_names = sorted(hits)
        summed = _all_reduce_sum([totals.loss, totals.steps, totals.seen, select_count,
                                  *(hits[n] for n in hit_names)], self.device)
        loss_sum, steps, seen, select_seen, hit_sums = summed[0], summed[1], summed[2], summed[3], summed[4:]
        world = self.session.world_size
        metrics = {
            reports.EPOCH: epoch + 1,
            reports.LOSS: loss_sum / max(steps, 1) if not totals.diverged else math.nan,
            "lr": totals.lr,
            "base_lr": self.cfg.optim.base_lr,
            "images_per_s": seen / epoch_time,
            "images_per_s_per_worker": seen / epoch_time / world,
            "epoch_time_s": epoch_time,
            "select_time_s": select_time,
            "data_wait_fraction": totals.data_wait_s / epoch_time,
            reports.RUN_STATE: reports.RunState.DIVERGED if totals.diverged else reports.RunState.RUNNING,
        }
        train_hits = {reports.online_top(k, name, split="train") for name in self.network.probes for k in (1, 5)}
        metrics.update({name: 100.0 * value / max(seen if name in train_hits else select_seen, 1)
                        for name, value in zip(hit_names, hit_sums)})
        metrics.update({reports.loss_term(name): total / max(totals.steps, 1) for name, total in totals.terms.items()})
        if not totals.diverged and totals.last_embeddings is not None:
            metrics["embedding_std"] = normalized_embedding_std(totals.last_embeddings)
            metrics["rankme"] = rankme(totals.last_embeddings)
        if self.rung_probes is not None:
            rung_start = time.perf_counter()
            metrics.update(self.rung_probes.scores(self.network.backbone, self._frozen_features))
            metrics["rung_probes_time_s"] = time.perf_counter() - rung_start
        return metrics

    def _frozen_features(self, backbone: nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen backbone's representations (under the run's autocast) and labels of a loader."""
        with self._autocast():
            return extract_features(backbone, loader, self.cfg.model.channels_last)


def pretrain(request: RunRequest, session: Session) -> None:
    """Pretrain ``request.config`` on ``request.data``, reporting each epoch through
    ``session`` and resuming from its checkpoint when it has one."""
    entered = time.time()
    cfg = request.config
    run = Pretraining(cfg, request.data, session)
    startup = {"startup_worker_s": entered - request.requested_at, "startup_model_s": run.model_built_at - entered,
               "startup_loader_s": time.time() - run.model_built_at}
    start_epoch = _resume(run, session)
    if start_epoch >= cfg.schedule.epochs:
        # The run had finished when its driver or worker died: its final report again, so that
        # the restarted trial ends on it (the records keep each epoch once).
        session.report(dict(run.history[-1]))
        return
    for epoch in range(start_epoch, cfg.schedule.epochs):
        epoch_start = time.perf_counter()
        totals = run.train_epoch(epoch)
        metrics = run.epoch_metrics(epoch, totals, time.perf_counter() - epoch_start)
        if epoch == start_epoch:
            metrics.update(startup, startup_first_batch_s=totals.first_batch_s,
                           gpus_visible=torch.cuda.device_count() if torch.cuda.is_available() else 0)
        last = epoch + 1 == cfg.schedule.epochs
        if last and not totals.diverged:
            metrics.update(_final_metrics(run))
        save = (session.rank == 0 and not totals.diverged
                and (last or (epoch + 1) % cfg.checkpoint.every_epochs == 0))
        _report(session, metrics, run, epoch, save)
        if totals.diverged:
            return


def _resume(run: Pretraining, session: Session) -> int:
    """Restore the session's checkpoint, if it has one, with its history of reports; report again
    every epoch of that history the records lack (a driver stopped or killed before its reports
    reached storage: no epoch is lost).  Returns the epoch to start from."""
    with session.resume_directory() as directory:
        if directory is None:
            return 0
        start_epoch = run.load_state(checkpoints.load_training_state(directory))
        run.history = checkpoints.load_history(directory)
    finished = start_epoch >= run.cfg.schedule.epochs
    for report in run.history[:-1] if finished else run.history:
        if not session.recorded(report[reports.EPOCH]):
            session.report(dict(report))
    return start_epoch


def _final_metrics(run: Pretraining) -> dict:
    """The last epoch's extra report: its status, and the offline evaluation on rank 0."""
    metrics: dict[str, Any] = {reports.RUN_STATE: reports.RunState.COMPLETED}
    if run.session.rank == 0:
        eval_start = time.perf_counter()
        metrics.update(final_evaluation(run.cfg, run.data, run.network.backbone, run.device))
        metrics["eval_time_s"] = time.perf_counter() - eval_start
    return metrics


def _report(session: Session, metrics: dict, run: Pretraining, epoch: int, save: bool) -> None:
    # The report's own time, saved with its checkpoint: a re-delivered final epoch (after a
    # driver restart) then logs to MLflow with the same timestamp and is de-duplicated.
    metrics.update(reports.tidy(metrics))
    metrics[reports.REPORTED_AT] = time.time()  # whole: it tells reports apart
    run.history.append(metrics)
    if not save:
        session.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        saving_start = time.perf_counter()
        checkpoints.save_training_state(Path(directory), run.state(epoch), run.cfg.model_dump(mode="json"),
                                        run.history)
        checkpoints.save_backbone(Path(directory), run.network.backbone)
        metrics["checkpoint_time_s"] = time.perf_counter() - saving_start
        session.report(metrics, Path(directory))


def train_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's per-worker function: one rank of a (possibly 1-worker) DDP run."""
    pretrain(RunRequest.from_loop_config(loop_config), TrainWorkerSession())
