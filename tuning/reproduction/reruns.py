"""Studies: a tuning campaign, then every variant's config rerun over several seeds.

A study file (search_spaces/studies/NAME.yaml) names a space to tune (its best config is
the variant ``base: tuned``), the seeds, values every rerun shares (``rerun``) and the
variants, each a preset or config with dotted ``set`` values and the paper's number for
it.  The reruns run as one grid campaign over (variant, seed): each variant's whole config
is a ``settings`` rule keyed on the ``variant`` label, so MLflow, export and the saved space
say exactly what each trial trained.  The outcome is saved as ``study.json`` in the study's
folder, from which the report is written.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from search_spaces import find_study, list_studies
from tuning.campaign.paths import timestamped
from tuning.campaign.records.results import CampaignResult
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import VARIANT, SearchSpace, load_preset, load_space
from tuning.campaign.statuses import TrialStatus
from tuning.config import (
    PretrainConfig,
    Strict,
    describe_validation_error,
    flatten,
    load_config,
    nearest,
    validate_config,
    with_overrides,
)
from tuning.errors import SearchSpaceError

TUNED = "tuned"
STUDY_FILE = "study.json"


class TuneStep(Strict):
    space: str
    num_samples: int | None = Field(None, ge=1)


class Variant(Strict):
    base: str = Field(description=f"preset name, config path, or {TUNED!r} (the tuning campaign's best config)")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted config values on top of the base")
    paper: float | None = Field(None, description="the paper's number for this row (Table S5), if it has one")


class Study(Strict):
    name: str
    description: str = ""
    tune: TuneStep | None = None
    seeds: list[int] = Field(min_length=1)
    rerun: dict[str, Any] = Field(default_factory=dict, description="dotted values every rerun shares")
    variants: dict[str, Variant] = Field(min_length=1)

    def variant_config(self, name: str, tuned: PretrainConfig | None) -> PretrainConfig:
        """One variant's config as its reruns train it (seed aside)."""
        variant = self.variants[name]
        base = tuned if variant.base == TUNED else load_preset(variant.base)
        if base is None:
            raise SearchSpaceError(f"study {self.name!r}: variant {name!r} uses base {TUNED!r} but the study "
                                   "has no tune step")
        tree = with_overrides(base.model_dump(mode="json"), {**variant.set, **self.rerun})
        return validate_config(tree, source=f"study {self.name!r} variant {name!r}")

    def reruns_space(self, tuned: PretrainConfig | None) -> SearchSpace:
        """The grid campaign of every (variant, seed): one ``settings`` rule per variant sets its
        whole config but the seed and the shared resources."""
        configs = {name: self.variant_config(name, tuned) for name in self.variants}
        if len({cfg.resources.model_dump_json() for cfg in configs.values()}) > 1:
            raise SearchSpaceError(f"study {self.name!r}: its variants ask for different resources; one campaign's "
                                   "trials share them: set resources.* in the study's rerun section")
        rules = []
        for name, cfg in configs.items():
            values = {k: v for k, v in flatten(cfg.model_dump(mode="json")).items()
                      if not k.startswith(("resources.", "loss.params.")) and k != "seed"}
            rules.append({"when": {VARIANT: [name]}, "set": {**values, "loss.params": cfg.loss.params}})
        # A campaign's trials share one resources section (the first variant's, ``rerun`` included);
        # the base's loss params are emptied so that each rule's are the only ones.
        shared = {f"resources.{k}": v for k, v in next(iter(configs.values())).resources.model_dump().items()}
        space = SearchSpace(
            name=f"{self.name}_reruns", description=f"{self.description}: every variant x seeds {self.seeds}",
            base=self._base_source(), overrides={"loss.params": {}, **shared},
            max_concurrent_trials=2, sampler="grid", scheduler={"type": "fifo"},
            params={VARIANT: {"distribution": "categorical", "choices": list(self.variants)},
                    "seed": {"distribution": "categorical", "choices": list(self.seeds)}},
            settings=rules)
        space.check()
        return space

    def _base_source(self) -> str:
        """Any config the rules can overwrite: the first fixed variant's, else the tune space's base."""
        fixed = [v.base for v in self.variants.values() if v.base != TUNED]
        return fixed[0] if fixed else load_space(self.tune.space).base

    def check(self) -> None:
        """Every variant gives a valid config (a tuned one checked on the tune space's base),
        before any compute."""
        stand_in = load_space(self.tune.space).base_config() if self.tune else None
        self.reruns_space(stand_in)


def load_study(name_or_path: str) -> Study:
    """A study by name (``paper-fmnist``) or path, every variant checked."""
    path = find_study(name_or_path)
    if path is None:
        hint = nearest(name_or_path.replace("-", "_"), list_studies())
        raise SearchSpaceError(f"unknown study {name_or_path!r}{hint}; available: {', '.join(list_studies())} "
                               "(or a path to a .yaml file)")
    try:
        study = Study.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as error:
        raise SearchSpaceError(f"study {str(path)!r}: {describe_validation_error(error, set(Study.model_fields))}") \
            from None
    study.check()
    return study


@dataclass
class RerunOutcome:
    """One (variant, seed) rerun as the report reads it."""
    variant: str
    seed: int
    status: str
    online_select_top1: float | None
    linear_probe_test_top1: float | None
    knn_test_top1: float | None
    checkpoint: str | None
    run_id: str | None
    duration_s: float | None


@dataclass
class StudyOutcome:
    """What a study ran and measured: saved as study.json, read by the report."""
    study: str
    description: str
    folder: str
    tracking_uri: str
    started: str
    wall_time_s: float
    machine: str
    seeds: list[int]
    paper: dict[str, float | None]
    configs: dict[str, PretrainConfig]  # each variant's config as its reruns trained it (seed aside)
    reruns: list[RerunOutcome] = field(default_factory=list)
    tune_campaign: str | None = None
    tune_trials: int = 0
    tune_completed: int = 0
    reruns_campaign: str = ""

    def save(self) -> Path:
        path = Path(self.folder) / STUDY_FILE
        saved = {**asdict(self), "configs": {n: c.model_dump(mode="json") for n, c in self.configs.items()}}
        path.write_text(json.dumps(saved, indent=1))
        return path

    @classmethod
    def load(cls, folder: Path) -> StudyOutcome:
        raw = json.loads((Path(folder) / STUDY_FILE).read_text())
        raw["reruns"] = [RerunOutcome(**r) for r in raw["reruns"]]
        raw["configs"] = {name: validate_config(config, source=f"{folder}/{STUDY_FILE} variant {name!r}")
                          for name, config in raw["configs"].items()}
        return cls(**raw)


def machine_description() -> str:
    import os

    import torch
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def run_study(study: Study, options: CampaignOptions = CampaignOptions(), *, announce=print) -> StudyOutcome:
    """Tune (if the study says so), then rerun every variant with every seed; save study.json.
    Both campaigns run with ``options`` (runs folder, cluster, stores, display)."""
    started, clock = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.perf_counter()
    runs = options.runs
    name = timestamped(study.name)
    folder = runs.campaign_dir(name)
    folder.mkdir(parents=True)
    tuned, tune_result = None, None
    if study.tune:
        space = load_space(study.tune.space)
        if study.tune.num_samples:
            space.num_samples = study.tune.num_samples
        announce(f"study {name}: tuning {space.name} ({space.num_samples} trials)")
        tune_result = run_campaign(space, options, name=f"{name}-tune")
        if tune_result.exported is None:
            raise SearchSpaceError(f"study {name}: the tuning campaign finished no trial; nothing to rerun")
        tuned = load_config(tune_result.exported)
    reruns = study.reruns_space(tuned)
    announce(f"study {name}: {reruns.num_samples} reruns ({len(study.variants)} variants x seeds {study.seeds})")
    rerun_result = run_campaign(reruns, options, name=f"{name}-reruns")
    outcome = StudyOutcome(
        study=study.name, description=study.description, folder=str(folder), tracking_uri=rerun_result.tracking_uri,
        started=started, wall_time_s=time.perf_counter() - clock, machine=machine_description(), seeds=study.seeds,
        paper={n: v.paper for n, v in study.variants.items()},
        configs={n: study.variant_config(n, tuned) for n in study.variants},
        reruns=_outcomes(rerun_result), reruns_campaign=rerun_result.name,
        tune_campaign=tune_result.name if tune_result else None,
        tune_trials=len(tune_result.rows) if tune_result else 0,
        tune_completed=sum(r.status == TrialStatus.COMPLETED for r in tune_result.rows) if tune_result else 0)
    outcome.save()
    return outcome


def _outcomes(result: CampaignResult) -> list[RerunOutcome]:
    return [RerunOutcome(variant=row.sampled[VARIANT], seed=int(row.sampled["seed"]), status=row.status,
                         online_select_top1=row.online_select_top1,
                         linear_probe_test_top1=row.linear_probe_test_top1, knn_test_top1=row.knn_test_top1,
                         checkpoint=row.checkpoint, run_id=row.run_id, duration_s=row.duration_s)
            for row in result.rows]
