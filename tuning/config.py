"""The typed, strict pretraining config: every trial, preset and export is one of these.

Unknown keys and wrong types are errors naming the key.  ``flatten``/``unflatten`` map it
to and from dotted keys ("loss.params.temperature"), the form MLflow params and search
spaces use.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.backbones import BackboneName
from models.gather import GatherGradient
from models.projector import parse_projector_spec
from models.registry import check_loss_params
from models.schedules import scaled_lr
from pipelines.augment import VIEW_1, VIEW_2, ViewAugmentation
from pipelines.bundled import BUNDLED
from tuning.errors import ConfigError


class Strict(BaseModel):
    """The base of every typed document of ours: unknown keys are errors, assignments are checked."""
    model_config = ConfigDict(extra="forbid", strict=False, validate_assignment=True)


class AugmentConfig(Strict):
    """Table S1 (BYOL's augmentations), its values the defaults (stated once, in
    pipelines.augment's VIEW_1 and VIEW_2); per-view values where the two views differ.  Blur
    sigmas are stated at 224 px and scale with the resolution."""
    crop_scale_min: float = Field(0.08, gt=0, le=1, description="random-resized-crop scale range (min, 1)")
    flip_p: float = Field(VIEW_1.flip_p, ge=0, le=1)
    jitter_p: float = Field(VIEW_1.jitter_p, ge=0, le=1)
    brightness: float = Field(VIEW_1.brightness, ge=0)
    contrast: float = Field(VIEW_1.contrast, ge=0)
    saturation: float = Field(VIEW_1.saturation, ge=0)
    hue: float = Field(VIEW_1.hue, ge=0, le=0.5)
    grayscale_p: float = Field(VIEW_1.grayscale_p, ge=0, le=1)
    blur_p_view1: float = Field(VIEW_1.blur_p, ge=0, le=1)
    blur_p_view2: float = Field(VIEW_2.blur_p, ge=0, le=1)
    blur_sigma_min: float = Field(VIEW_1.blur_sigma[0], gt=0)
    blur_sigma_max: float = Field(VIEW_1.blur_sigma[1], gt=0)
    solarize_p_view1: float = Field(VIEW_1.solarize_p, ge=0, le=1)
    solarize_p_view2: float = Field(VIEW_2.solarize_p, ge=0, le=1)

    @model_validator(mode="after")
    def _sigma_range(self):
        if self.blur_sigma_min > self.blur_sigma_max:
            raise ValueError(f"blur_sigma_min={self.blur_sigma_min} must not exceed blur_sigma_max="
                             f"{self.blur_sigma_max}")
        return self

    def views(self) -> tuple[ViewAugmentation, ViewAugmentation]:
        """The two views' augmentations after the crop."""
        shared = dict(flip_p=self.flip_p, jitter_p=self.jitter_p, brightness=self.brightness,
                      contrast=self.contrast, saturation=self.saturation, hue=self.hue,
                      grayscale_p=self.grayscale_p, blur_sigma=(self.blur_sigma_min, self.blur_sigma_max))
        return (ViewAugmentation(**shared, blur_p=self.blur_p_view1, solarize_p=self.solarize_p_view1),
                ViewAugmentation(**shared, blur_p=self.blur_p_view2, solarize_p=self.solarize_p_view2))


class DataConfig(Strict):
    """Where a run's images come from, and the three splits (pipelines.splits): ``train``
    fits, a class-balanced ``select`` slice held out of train chooses, ``test`` reports."""
    train: str = Field("digits", description=f"train .beton path, or a bundled data set: {' | '.join(BUNDLED)}")
    test: str = Field("digits", description="test .beton path (every reported number is scored on it), or the "
                      "bundled data set named by train")
    select_per_class: int = Field(10, ge=1, description="images of each class held out of train as the select "
                                  "split, on which every choice is scored (ImageNet: 10 a class, 10,000 images)")
    select_seed: int = Field(0, description="draws the select split: one slice for every run of a campaign, "
                             "whatever the run's own seed")
    train_subset: int | None = Field(None, ge=1, description="bundled data only: this many train images, "
                                     "class-balanced, the same for every run (None: the whole split)")
    resolution: int = Field(32, ge=8, le=1024)
    batch_size: int = Field(256, ge=2, description="global batch size over all workers")
    loader_workers: int = Field(1, ge=1)
    center_crop_ratio: float = Field(0.875, gt=0, le=1)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)

    @property
    def bundled(self) -> str | None:
        """The bundled data set this section names, or None for the user's .beton files."""
        return self.train if self.train in BUNDLED else None

    @model_validator(mode="after")
    def _one_dataset(self):
        # Probing a model trained on one dataset with another's labels gives a meaningless score.
        if (self.train in BUNDLED or self.test in BUNDLED) and self.train != self.test:
            raise ValueError(f"data.train={self.train!r} and data.test={self.test!r} mix a bundled data set "
                             f"with another data set: give both as .beton files (data.train and data.test; "
                             f"pretrain's --data and --test-data) or "
                             f"both as the same bundled name ({' | '.join(BUNDLED)})")
        if self.train_subset is not None and self.bundled is None:
            raise ValueError(f"data.train_subset={self.train_subset} applies to bundled data only "
                             f"({' | '.join(BUNDLED)}); write a subset of your own data to its own .beton")
        return self


class ModelConfig(Strict):
    backbone: BackboneName = "small_cnn"
    small_stem: bool = True
    projector: str = "512-512-128"
    embedding_dim: int | None = Field(None, ge=1, description="value of 'd' in the projector spec")
    channels_last: bool = True
    sync_batchnorm: bool = Field(False, description="SyncBatchNorm across ranks (CUDA workers only)")
    compile: bool = Field(False, description="torch.compile the model")

    @model_validator(mode="after")
    def _projector_parses(self):
        parse_projector_spec(self.projector, self.embedding_dim)
        return self


class LossConfig(Strict):
    method: str = "simclr"
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    gather: GatherGradient = Field("summed", description="DDP all-gather backward: summed (correct); divided "
                                   "reproduces the paper's footnote-1 bug (gradients / world size), ablations only")

    @model_validator(mode="after")
    def _params_fit_method(self):
        object.__setattr__(self, "params", check_loss_params(self.method, self.params))
        return self


class OptimConfig(Strict):
    name: Literal["lars", "sgd", "adamw"] = "lars"
    base_lr: float = Field(0.3, gt=0, description="the peak lr before lr_scaling (linear: base_lr * global "
                           "batch / 256)")
    lr_scaling: Literal["linear", "sqrt"] = Field("linear", description="linear: base_lr * batch / 256 (the "
                                                  "paper); sqrt: base_lr * sqrt(batch) (SimCLR's small-batch rule)")
    weight_decay: float = Field(1e-6, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    eta: float = Field(0.001, gt=0, description="LARS trust coefficient")


class ScheduleConfig(Strict):
    epochs: int = Field(10, ge=1)
    warmup_epochs: float = Field(10, ge=0, description="capped at 10% of epochs for short runs")
    final_lr_ratio: float = Field(0.001, ge=0, le=1)


class ProbeConfig(Strict):
    online_lr: float = Field(1e-3, gt=0, description="AdamW lr of the online linear probes at batch 256, "
                             "scaled by global batch / 256 like every lr here")
    online_on_embedding: bool = Field(False, description="also probe the embedding (online_embedding_select_top1)")
    online_bn_lr_factor: float = Field(10.0, gt=0, description="the online probe behind a non-affine BatchNorm "
                                       "(online_bn_select_top1) trains at this many times online_lr")
    rung_bank_images: int = Field(10_000, ge=0, description="fit images whose frozen representations are the bank "
                                  "of the per-epoch k-NN, ridge and RankMe candidates (tuning.run.rung_probes), "
                                  "scored on select; 0 skips them")
    offline_epochs: int = Field(30, ge=0, description="0 skips the offline linear probe")
    offline_lr: float = Field(0.5, gt=0, description="centre of the offline probe's lr grid (App. E: 0.25 "
                              "VICReg, 1.4 VICReg-exp), scaled by offline_batch_size / 256")
    offline_lr_points: int = Field(7, ge=1, description="heads trained at once, at lrs offline_lr_factor apart "
                                   "around offline_lr; the one best on the select split is reported")
    offline_lr_factor: float = Field(4.0, gt=1, description="the ratio between neighbouring lrs of the grid (the "
                                     "default grid, offline_lr / 64 to x 64, holds the best lr of raw pixels, an "
                                     "untrained network and a trained one: benchmarks/RESULTS.md, learning curves)")
    offline_standardize: bool = Field(True, description="the linear probe reads its features standardised with "
                                      "the fit part's mean and std (a frozen non-affine BatchNorm before the head)")
    offline_batch_size: int = Field(256, ge=1)
    offline_mode: Literal["augmented", "cached"] = Field(
        "cached", description="augmented: a fresh random-resized crop and flip of every train image each epoch "
        "through the frozen backbone (App. E); cached: centre-crop features extracted once (cheap)")
    knn: bool = True
    center_crop_choices: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=list, description="centre-crop ratios that the offline probe and k-NN try besides "
        "data.center_crop_ratio; each keeps, for every representation (the baselines included), the crop best on "
        "select (linear_probe_crop, knn_crop); each costs one more offline evaluation")
    supervised_baseline: bool = Field(False, description="beside the baselines, the supervised ceiling: this "
                                      "config trained with labels (method supervised) through the same probes, once "
                                      "per data and settings (a whole training run, so off unless asked for)")


class ResourcesConfig(Strict):
    workers: int = Field(2, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    torch_threads: int = Field(1, ge=1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="autocast dtype; auto: bf16 where native (CUDA capability 8.0+, CPUs with "
        "avx512_bf16/AMX), fp16 with a gradient scaler on older GPUs, fp32 elsewhere")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="how a multi-worker trial's workers are placed on nodes (Ray placement groups): "
        "PACK as few nodes as possible, SPREAD over many, STRICT_* as a must")

    @model_validator(mode="after")
    def _one_gpu_a_rank(self):
        """Ray would pack two ranks of a fractional-GPU trial onto one GPU, where NCCL fails."""
        fractional = 0 < self.gpus_per_worker < 1 or self.gpus_per_worker != int(self.gpus_per_worker)
        if fractional and self.workers > 1:
            raise ValueError(f"resources.gpus_per_worker={self.gpus_per_worker} with resources.workers="
                             f"{self.workers}: a DDP rank needs whole GPUs (NCCL fails when two ranks share one); "
                             "give 1 (or another whole number), or share a GPU with one worker a trial")
        return self


class CheckpointConfig(Strict):
    every_epochs: int = Field(1, ge=1)
    keep_last: int = Field(2, ge=1)
    max_failures: int = Field(1, ge=0, description="Train worker-group restarts from the last checkpoint")


class PretrainConfig(Strict):
    """One pretraining run: what a trial trains, what export writes and pretrain reads."""
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)

    @model_validator(mode="after")
    def _sync_batchnorm_needs_gpus(self):
        if self.model.sync_batchnorm and self.resources.gpus_per_worker == 0:
            raise ValueError("model.sync_batchnorm=true needs CUDA workers (resources.gpus_per_worker > 0)")
        return self

    @model_validator(mode="after")
    def _batch_splits_over_workers(self):
        if self.data.batch_size % self.resources.workers:
            raise ValueError(f"data.batch_size={self.data.batch_size} must be divisible by "
                             f"resources.workers={self.resources.workers}")
        return self

    def ablation_warning(self) -> str | None:
        """A warning when this config deliberately reproduces a known bug (loss.gather=divided)."""
        if self.loss.gather != "divided":
            return None
        effect = (f"every gradient is divided by the world size ({self.resources.workers} workers)"
                  if self.resources.workers > 1 else "with 1 worker it changes nothing (no gather)")
        return (f"loss.gather=divided reproduces the paper's footnote-1 DDP gather bug for an ablation: {effect}; "
                "use loss.gather=summed for real training")

    def effective_lr(self) -> float:
        """The peak learning rate: base_lr scaled by the global batch under ``optim.lr_scaling``
        (linear, base_lr * batch / 256, paper App. D; or SimCLR's sqrt rule)."""
        return scaled_lr(self.optim.base_lr, self.data.batch_size, self.optim.lr_scaling)

    def digest(self) -> str:
        """A short hash of the full config, recorded on exports and MLflow runs."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]


def nearest(name: str, known: list[str] | set[str]) -> str:
    """" (did you mean ...?)" naming the known names closest to a misspelt one, or ""."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def config_paths() -> set[str]:
    """Every dotted path of a config (loss parameters of every method included)."""
    from models.registry import METHODS

    paths = set(flatten(PretrainConfig().model_dump(mode="json")))
    return paths | {f"loss.params.{p}" for method in METHODS.values() for p in method.params}


RENAMED_KEYS = {
    "data.val": "data.test (the split results are reported on)",
    "probe.holdout_fraction": "data.select_per_class (choices are scored on the select split)",
    "probe.online_val_images": "data.select_per_class (the online probes are scored on the select split)",
}
"""Keys of older configs, and what took their place."""


def describe_validation_error(error: ValidationError, known: set[str] | None = None) -> str:
    """A pydantic error as one line per problem: the dotted key, what is wrong, what was
    given; an unknown key also names the nearest of ``known`` (dotted paths)."""
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden" and where in RENAMED_KEYS:
            lines.append(f"key {where!r} is now {RENAMED_KEYS[where]}")
        elif e["type"] == "extra_forbidden":
            lines.append(f"unknown key {where!r}{nearest(where, known or set())}")
        else:
            got = f" (got {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
            lines.append(f"{where}: {e['msg']}{got}")
    return "; ".join(lines)


def validate_config(raw: dict[str, Any], source: str = "config") -> PretrainConfig:
    """A PretrainConfig from plain data, or ConfigError naming every bad key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of config sections, got {type(raw).__name__}")
    try:
        return PretrainConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source}: {describe_validation_error(error, config_paths())}") from None


def read_yaml_mapping(path: Path, what: str, error: type[Exception] = ConfigError, empty_ok: bool = False) -> dict:
    """The mapping a YAML file holds (``yaml.safe_load``), or ``error`` naming ``what`` and the
    file when it is not valid YAML or not a mapping (an empty file is {} when ``empty_ok``)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as problem:
        raise error(f"{what} {str(path)!r} is not valid YAML: {problem}") from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {str(path)!r} must be a YAML mapping")
    return data


def load_config(path: str | Path) -> PretrainConfig:
    """Read a YAML config (``yaml.safe_load``) strictly."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    return validate_config(read_yaml_mapping(path, "config file", empty_ok=True), source=str(path))


def dump_config(config: PretrainConfig, header: str = "") -> str:
    """YAML text that ``load_config`` reads back to an equal config."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"a.b.c": value}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted-key ``overrides`` set (intermediate dicts created)."""
    tree = json.loads(json.dumps(base))
    for dotted, value in overrides.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot set {dotted!r}: {part!r} is not a section")
        node[leaf] = value
    return tree


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``{"dotted.key": value}`` from ``KEY=VALUE`` strings (the CLI's ``--set``), each value
    read as YAML (``yaml.safe_load``): ``data.resolution=224``, ``probe.knn=false``."""
    parsed: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {assignment!r} is not KEY=VALUE (e.g. --set data.resolution=224)")
        try:
            parsed[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {assignment!r}: the value is not valid YAML ({error})") from None
    return parsed
