"""The one training loop: every method, every trial, CPU/gloo or CUDA/NCCL.

``train_worker`` is Ray Train's per-worker function.  Each epoch ends in one
``ray.train.report`` (one Tune iteration, what ASHA and Optuna see); the last epoch's
report also carries the offline linear probe and k-NN accuracy.
"""
from __future__ import annotations

import contextlib
import math
import tempfile
import time
from pathlib import Path

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from models.gather import gather_batch
from models.health import normalized_embedding_std, rankme
from models.lars import LARS, lars_param_groups
from models.probes import best_knn_accuracy, topk_correct, train_linear_probe
from models.registry import build_loss, build_loss_terms
from models.schedules import warmup_cosine
from models.ssl_model import SSLModel
from pipelines.augment import VIEW_1, VIEW_2, augment_view, normalize
from pipelines.loaders import eval_loader, ssl_loader
from tuning import checkpoints
from tuning.config import OptimConfig, PretrainConfig, validate_config


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


@torch.no_grad()
def extract_features(backbone: nn.Module, loader, device: torch.device, channels_last: bool):
    """Frozen-backbone representations and labels for every sample of an eval loader."""
    backbone.eval()
    feats, labels = [], []
    for images, y in loader:
        x = normalize(images.float() / 255.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        feats.append(backbone(x).float().cpu())
        labels.append(y.cpu())
    backbone.train()
    return torch.cat(feats), torch.cat(labels)


def final_evaluation(cfg: PretrainConfig, data: dict, backbone: nn.Module, device: torch.device) -> dict:
    """Offline linear probe (and k-NN) on frozen features: train split (RRC + flip), val split
    (center crop).  Run by rank 0 only."""
    common = dict(batch_size=cfg.probe.offline_batch_size, resolution=cfg.data.resolution, device=device,
                  workers=cfg.data.loader_workers, channels_last=cfg.model.channels_last)
    train_x, train_y = extract_features(backbone, eval_loader(data["train"], train=cfg.probe.offline_train_augment,
                                                                      seed=cfg.seed, **common),
                                        device, cfg.model.channels_last)
    val_x, val_y = extract_features(backbone, eval_loader(data["val"], train=False,
                                                          center_crop_ratio=cfg.data.center_crop_ratio, **common),
                                    device, cfg.model.channels_last)
    results = {}
    if cfg.probe.offline_epochs > 0:
        results.update(train_linear_probe(train_x, train_y, val_x, val_y, data["num_classes"],
                                          epochs=cfg.probe.offline_epochs, lr=cfg.probe.offline_lr,
                                          batch_size=cfg.probe.offline_batch_size, seed=cfg.seed))
    if cfg.probe.knn:
        results.update(best_knn_accuracy(train_x, train_y, val_x, val_y, data["num_classes"]))
    return results


def _precision(cfg: PretrainConfig, device: torch.device) -> torch.dtype | None:
    wanted = cfg.resources.precision
    if wanted == "bf16" or (wanted == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def train_worker(loop_config: dict) -> None:
    """Ray Train per-worker loop: pretrain ``loop_config['config']`` on ``loop_config['data']``."""
    cfg = validate_config(loop_config["config"])
    data = loop_config["data"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.set_num_threads(cfg.resources.torch_threads)
    torch.manual_seed(cfg.seed)
    autocast_dtype = _precision(cfg, device)
    memory_format = torch.channels_last if cfg.model.channels_last else torch.contiguous_format

    net = SSLModel(cfg.model.backbone, cfg.model.projector, cfg.model.embedding_dim, data["num_classes"],
                   cfg.model.small_stem).to(memory_format=memory_format)
    if cfg.model.sync_batchnorm and world > 1:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    model = ray.train.torch.prepare_model(net)
    if cfg.model.compile:
        model = torch.compile(model)
    loss_fn = build_loss(cfg.loss.method, cfg.loss.params)
    terms_fn = build_loss_terms(cfg.loss.method, cfg.loss.params)
    loader = ssl_loader(data["train"], cfg.data.batch_size // world, cfg.data.resolution, device, seed=cfg.seed,
                        distributed=world > 1, workers=cfg.data.loader_workers,
                        channels_last=cfg.model.channels_last, crop_scale=(cfg.data.crop_scale_min, 1.0))
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"data.batch_size={cfg.data.batch_size} is larger than the training set")
    total_steps = cfg.schedule.epochs * steps_per_epoch
    warmup_steps = int(min(cfg.schedule.warmup_epochs, 0.1 * cfg.schedule.epochs) * steps_per_epoch)
    peak_lr = cfg.effective_lr()
    ssl_optimizer = build_optimizer(cfg.optim, nn.ModuleList([net.backbone, net.projector]), peak_lr)
    probe_optimizer = torch.optim.AdamW(net.probe.parameters(), lr=cfg.probe.online_lr)

    start_epoch = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            state = checkpoints.load_training_state(Path(directory))
            checkpoint_metrics = checkpoints.load_metrics(Path(directory))
        net.load_state_dict(state["model"])
        ssl_optimizer.load_state_dict(state["ssl_optimizer"])
        probe_optimizer.load_state_dict(state["probe_optimizer"])
        start_epoch = int(state["epoch"]) + 1
        if start_epoch >= cfg.schedule.epochs:
            # The run had finished when its driver or worker died: report its final epoch again.
            ray.train.report(checkpoint_metrics)
            return

    generator = torch.Generator(device=device)
    for epoch in range(start_epoch, cfg.schedule.epochs):
        generator.manual_seed(cfg.seed * 1_000_003 + epoch * 7919 + rank)
        loader.loader.next_epoch = epoch
        totals = {"loss": 0.0, "top1": 0.0, "top5": 0.0, "seen": 0.0, "steps": 0.0}
        term_totals: dict[str, float] = {}
        lr = peak_lr
        diverged = False
        data_wait = 0.0
        epoch_start = tick = time.perf_counter()
        for step_in_epoch, (view1, view2, labels) in enumerate(loader):
            data_wait += time.perf_counter() - tick
            lr = warmup_cosine(epoch * steps_per_epoch + step_in_epoch, total_steps, warmup_steps, peak_lr,
                               cfg.schedule.final_lr_ratio)
            for group in ssl_optimizer.param_groups:
                group["lr"] = lr
            images = torch.cat([normalize(augment_view(view1, VIEW_1, generator)),
                                normalize(augment_view(view2, VIEW_2, generator))]).contiguous(
                memory_format=memory_format)
            autocast = (torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype
                        else contextlib.nullcontext())
            with autocast:
                _, embeddings, logits = model(images)
            z1, z2 = embeddings.float().chunk(2)
            global_z1, global_z2 = gather_batch(z1), gather_batch(z2)
            ssl_loss = loss_fn(global_z1, global_z2)
            if terms_fn is not None:
                with torch.no_grad():
                    for name, value in terms_fn(global_z1.detach(), global_z2.detach()).items():
                        term_totals[name] = term_totals.get(name, 0.0) + float(value)
            probe_loss = F.cross_entropy(logits.float(), torch.cat([labels, labels]))
            if not torch.isfinite(ssl_loss):
                diverged = True
                break
            ssl_optimizer.zero_grad(set_to_none=True)
            probe_optimizer.zero_grad(set_to_none=True)
            (ssl_loss + probe_loss).backward()
            ssl_optimizer.step()
            probe_optimizer.step()
            hits = topk_correct(logits[: len(labels)].detach(), labels)
            totals["loss"] += float(ssl_loss.detach())
            totals["top1"] += hits[1]
            totals["top5"] += hits[5]
            totals["seen"] += len(labels)
            totals["steps"] += 1
            tick = time.perf_counter()
        epoch_time = time.perf_counter() - epoch_start
        loss_sum, top1, top5, seen, steps = _all_reduce_sum(
            [totals["loss"], totals["top1"], totals["top5"], totals["seen"], totals["steps"]], device)
        metrics = {
            "epoch": epoch + 1,
            "loss": loss_sum / max(steps, 1) if not diverged else math.nan,
            "online_top1": 100.0 * top1 / max(seen, 1),
            "online_top5": 100.0 * top5 / max(seen, 1),
            "lr": lr,
            "base_lr": cfg.optim.base_lr,
            "images_per_s": seen / epoch_time,
            "images_per_s_per_worker": seen / epoch_time / world,
            "epoch_time_s": epoch_time,
            "data_wait_fraction": data_wait / epoch_time,
            "status": "diverged" if diverged else "running",
        }
        metrics.update({f"loss_{name}": total / max(totals["steps"], 1) for name, total in term_totals.items()})
        if not diverged and steps:
            metrics["embedding_std"] = normalized_embedding_std(z1)
            metrics["rankme"] = rankme(z1)
        last = epoch + 1 == cfg.schedule.epochs
        if last and not diverged:
            metrics["status"] = "completed"
            if rank == 0:
                metrics.update(final_evaluation(cfg, data, net.backbone, device))
        save = rank == 0 and not diverged and (last or (epoch + 1) % cfg.checkpoint.every_epochs == 0)
        _report(metrics, save, net, ssl_optimizer, probe_optimizer, epoch, cfg)
        if diverged:
            return


def _report(metrics: dict, save: bool, net: SSLModel, ssl_optimizer, probe_optimizer, epoch: int,
            cfg: PretrainConfig) -> None:
    if not save:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        state = {"model": net.state_dict(), "ssl_optimizer": ssl_optimizer.state_dict(),
                 "probe_optimizer": probe_optimizer.state_dict(), "epoch": epoch}
        checkpoints.save_training_state(Path(directory), state, cfg.model_dump(mode="json"), metrics)
        checkpoints.save_backbone(Path(directory), net.backbone)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(directory))
