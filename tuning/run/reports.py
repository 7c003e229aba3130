"""What a pretraining reports, in one place: every key of its reports, what it means, the
split it is scored on and its unit.

Each epoch reports one mapping (to Ray Tune, to MLflow through the campaign's logger, and
saved with its checkpoint); the last epoch adds the offline evaluation.  The loop builds its
reports from these names, and every reader (the search's ``metric``, ASHA, the MLflow
logger, progress, tables, export) imports them instead of spelling them again.

Splits (pipelines.splits): ``train`` is what pretraining and the probes fit on; ``select``
is the class-balanced slice held out of train that every choice is scored on (the rung
metric, the search, the exported best, the probes' settings); ``test`` is the split every
reported number is scored on.  Every score's key names its split.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ReportKey:
    """One reported key: what it means, the split it is scored on ('' when it is not a
    score), its unit, and whether every epoch reports it or only the last (``final``)."""
    name: str
    meaning: str
    unit: str
    split: Literal["train", "select", "test", ""] = ""
    final: bool = False


class RunState(enum.StrEnum):
    """The loop's own word on a report (the report's ``RUN_STATE`` key)."""
    RUNNING = "running"
    DIVERGED = "diverged"  # the loss went non-finite: the run stops at this epoch
    COMPLETED = "completed"  # the last epoch, with the offline evaluation


ONLINE_PROBES = ("online", "online_bn", "online_embedding")
"""The online linear probes: on the representation, on the representation through a non-affine
BatchNorm (at ``probe.online_bn_lr_factor`` times the lr), and (``probe.online_on_embedding``)
on the embedding."""

EPOCH = "epoch"
RUN_STATE = "status"
LOSS = "loss"
REPORTED_AT = "reported_at"


def tidy(metrics: dict[str, Any]) -> dict[str, Any]:
    """A report's floats in 10 significant digits, as every record of it keeps them (Tune,
    result.json, the checkpoint, MLflow): a percentage over n images reads 79.1, not
    79.10000000000001; anything else as it is."""
    return {key: float(f"{value:.10g}") if isinstance(value, float) else value for key, value in metrics.items()}


def online_top(k: int, probe: str = "online", split: Literal["train", "select"] = "select") -> str:
    """The key of an online probe's top-``k`` accuracy on ``split``."""
    return f"{probe}_{split}_top{k}"


ONLINE_TOP1 = online_top(1)
LINEAR_PROBE_TEST_TOP1 = "linear_probe_test_top1"
LINEAR_PROBE_SELECT_TOP1 = "linear_probe_select_top1"
KNN_TEST_TOP1 = "knn_test_top1"
KNN_SELECT_TOP1 = "knn_select_top1"
FROZEN_KNN_SELECT_TOP1 = "frozen_knn_select_top1"
FROZEN_RIDGE_SELECT_TOP1 = "frozen_ridge_select_top1"
FROZEN_RANKME = "frozen_rankme"
FROZEN_CANDIDATES = (FROZEN_KNN_SELECT_TOP1, FROZEN_RIDGE_SELECT_TOP1, FROZEN_RANKME)
"""The rung candidates on frozen features: reported only while ``probe.rung_bank_images`` > 0."""


BASELINE_PREFIX = "baseline_"


BASELINES = {  # each representation a campaign sets its trials beside, and how tables name it
    "raw_pixels": "raw pixels",
    "random_features": "random features of the pixels",
    "untrained": "untrained network",
    "supervised": "supervised (labels)",
}


def baseline_key(representation: str, score: str) -> str:
    """The key of a baseline (tuning.run.baselines): ``score`` of the same probes on one of the
    ``BASELINES`` representations (logged on a campaign's parent run, not reported by trials)."""
    return f"{BASELINE_PREFIX}{representation}_{score}"


def loss_term(term: str) -> str:
    """The key of one term of the SSL loss (its mean over the epoch's steps)."""
    return f"loss_{term}"


def _online_keys() -> list[ReportKey]:
    return [ReportKey(online_top(k, probe, split), f"the {probe.replace('_', ' ')} probe's top-{k} accuracy "
                      + ("on the epoch's training views" if split == "train" else "on select centre crops"), "%", split)
            for probe in ONLINE_PROBES for k in (1, 5) for split in ("select", "train")]


KEYS: tuple[ReportKey, ...] = (
    ReportKey(EPOCH, "epochs trained so far", "epochs"),
    ReportKey(RUN_STATE, "the loop's state: running, diverged, or completed (the last epoch)", "RunState"),
    ReportKey(LOSS, "the SSL loss, mean over the epoch's steps (NaN once diverged)", "loss", "train"),
    ReportKey("lr", "the learning rate at the epoch's last step", "lr"),
    ReportKey("base_lr", "the configured base learning rate (before the batch-size rule)", "lr"),
    ReportKey("images_per_s", "training images per second, all workers", "images/s"),
    ReportKey("images_per_s_per_worker", "training images per second per worker", "images/s"),
    ReportKey("epoch_time_s", "the epoch's wall time", "s"),
    ReportKey("select_time_s", "time spent scoring the online probes on select", "s"),
    ReportKey("data_wait_fraction", "share of the epoch spent waiting for the loader", "fraction"),
    ReportKey("embedding_std", "std of the normalised embeddings of the last batch (collapse: near 0)", "std",
              "train"),
    ReportKey("rankme", "RankMe of the last batch's embeddings (effective rank)", "rank", "train"),
    *_online_keys(),
    ReportKey(FROZEN_KNN_SELECT_TOP1, "k-NN (k 20, T 0.07) on select, the frozen representations of a fixed "
              "sample of fit as the bank (tuning.run.rung_probes)", "%", "select"),
    ReportKey(FROZEN_RIDGE_SELECT_TOP1, "a closed-form ridge probe on the bank's frozen representations, scored "
              "on select (its penalty chosen there)", "%", "select"),
    ReportKey(FROZEN_RANKME, "RankMe of the bank's frozen representations (label-free)", "rank", "train"),
    ReportKey("rung_probes_time_s", "time spent on the frozen-feature candidates (bank and select features, "
              "k-NN, ridge, RankMe)", "s"),
    ReportKey("startup_worker_s", "from the trial's request to its worker starting (first epoch only)", "s"),
    ReportKey("startup_model_s", "building the model (first epoch only)", "s"),
    ReportKey("startup_loader_s", "building the loaders (first epoch only)", "s"),
    ReportKey("startup_first_batch_s", "waiting for the first batch: FFCV's compilation (first epoch only)", "s"),
    ReportKey("gpus_visible", "CUDA devices the run's process sees (first epoch only; 0 on a CPU)", "devices"),
    ReportKey("checkpoint_time_s", "writing the epoch's checkpoint (epochs that write one)", "s"),
    ReportKey(REPORTED_AT, "when the report was made (Unix time; de-duplicates re-delivered reports)", "s"),
    ReportKey(LINEAR_PROBE_TEST_TOP1, "the offline linear probe's top-1 on test, its lr chosen on select", "%",
              "test", final=True),
    ReportKey("linear_probe_test_top5", "the offline linear probe's top-5 on test", "%", "test", final=True),
    ReportKey("linear_probe_lr", "the lr the offline linear probe chose on select", "lr", "select", final=True),
    ReportKey(LINEAR_PROBE_SELECT_TOP1, "the chosen linear probe's top-1 on select", "%", "select", final=True),
    ReportKey("linear_probe_crop", "the centre-crop ratio the offline linear probe chose on select "
              "(data.center_crop_ratio unless probe.center_crop_choices offers others)", "ratio", "select", final=True),
    ReportKey(KNN_TEST_TOP1, "k-NN top-1 on test, k and temperature chosen on select", "%", "test", final=True),
    ReportKey("knn_k", "the k that k-NN chose on select", "neighbours", "select", final=True),
    ReportKey("knn_temperature", "the temperature that k-NN chose on select", "temperature", "select",
              final=True),
    ReportKey(KNN_SELECT_TOP1, "the chosen k-NN's top-1 on select", "%", "select", final=True),
    ReportKey("knn_crop", "the centre-crop ratio that k-NN chose on select", "ratio", "select", final=True),
    ReportKey("eval_time_s", "the offline evaluation's wall time", "s", final=True),
)
"""Every key a report may hold, besides one ``loss_term(...)`` per term of the method's loss."""

BY_NAME = {key.name: key for key in KEYS}
NOT_SCORES = frozenset({EPOCH, RUN_STATE, REPORTED_AT})
"""Keys that are not numbers to log or search on."""


def search_metrics(every_epoch: bool) -> list[str]:
    """The keys a search may rank trials by: every numeric score but those on ``test`` (no
    choice reads the split results are reported on), or (``every_epoch``, for an
    early-stopping scheduler that compares trials at each rung) those every epoch reports."""
    return [key.name for key in KEYS if key.name not in NOT_SCORES and key.split != "test"
            and not (every_epoch and key.final)]


def select_counterpart(name: str) -> str | None:
    """The select-split key of a test-split score ("linear_probe_test_top1" ->
    "linear_probe_select_top1"), or None when ``name`` is not a test score with one."""
    key = BY_NAME.get(name)
    twin = name.replace("_test_", "_select_")
    return twin if key is not None and key.split == "test" and twin in BY_NAME else None
