"""Studies: tuning campaigns of equal budget, then every variant's config rerun over several seeds.

A study file (search_spaces/studies/NAME.yaml) names its tuning arms (a space each, whose best
config is the variant base ``tuned:ARM``), the budget every arm shares (``tune``: trials,
sampler, scheduler and rung metric are the study's, not the spaces', so the arms are equal by
construction; each space brings only its parameters and its method), the seeds, values every
rerun shares (``rerun``) and the variants, each a preset or config with dotted ``set`` values
and the row of the paper's Table S5 it reproduces.  The reruns run as one grid campaign over
(variant, seed): each variant's whole config is a ``settings`` rule keyed on the ``variant``
label, so MLflow, export and the saved space say exactly what each trial trained.  The outcome
is saved as ``study.json`` in the study's folder, from which the report is written.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from search_spaces import find_study, list_studies
from tuning.campaign.paths import timestamped
from tuning.campaign.records.results import CampaignResult
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import VARIANT, SchedulerSpec, SearchSpace, load_preset, load_space
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
from tuning.reproduction.paper_table import PaperCell, TableS5Row, paper_cell
from tuning.run import reports

TUNED = "tuned:"  # a variant base "tuned:ARM" is that tuning arm's best config
MAIN = "main"  # the part of a study that tunes its arms and reruns its variants
STUDY_FILE = "study.json"


class TuneBudget(Strict):
    """What every tuning arm of a study shares, so that no arm is tuned harder than another."""
    arms: dict[str, str] = Field(min_length=1, description="arm label -> search space (its params and base)")
    num_samples: int = Field(ge=1)
    sampler: Literal["tpe", "random"] = "tpe"
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    metric: str = Field(reports.FROZEN_RIDGE_SELECT_TOP1, description="the rung metric every arm stops and "
                        "learns on")


class Variant(Strict):
    base: str = Field(description=f"preset name, config path, or {TUNED}ARM (that tuning arm's best config)")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted config values on top of the base")
    paper_row: TableS5Row | None = Field(None, description="the row of the paper's Table S5 this variant "
                                         "reproduces; its cell is matched to the variant's projector and d")


class Study(Strict):
    name: str
    description: str = ""
    tune: TuneBudget | None = None
    seeds: list[int] = Field(min_length=1)
    paper_scale: int = Field(16, ge=1, description="the paper's widths and d over this study's (its cells "
                             "are matched at this scale)")
    scale: dict[str, Any] = Field(default_factory=dict, description="dotted values every tuning trial and every "
                                  "rerun shares: the data, epochs and probes the study runs at")
    rerun: dict[str, Any] = Field(default_factory=dict, description="dotted values every rerun shares")
    variants: dict[str, Variant] = Field(min_length=1)
    parts: dict[str, str] = Field(default_factory=dict, description="figure part -> its grid space (run with "
                                  f"--part NAME; {MAIN!r} is the tuning arms and the variants' reruns)")

    def part_names(self) -> list[str]:
        return [MAIN, *self.parts]

    def part_space(self, part: str) -> SearchSpace:
        """The grid space of figure part ``part``."""
        if part not in self.parts:
            raise SearchSpaceError(f"study {self.name!r} has no figure part {part!r}; its parts: "
                                   f"{', '.join(self.part_names())}")
        return load_space(self.parts[part])

    def arm_space(self, arm: str) -> SearchSpace:
        """Tuning arm ``arm``: its space's parameters, base and overrides under the study's
        shared budget (trials, sampler, scheduler, metric) at the study's scale."""
        own = load_space(self.tune.arms[arm])
        space = type(own).model_validate({
            **own.model_dump(), "name": f"{self.name}_{arm}", "num_samples": self.tune.num_samples,
            "sampler": self.tune.sampler, "scheduler": self.tune.scheduler.model_dump(), "metric": self.tune.metric,
            "overrides": {**own.overrides, **self.scale}})
        space.check()
        return space

    def variant_config(self, name: str, tuned: dict[str, PretrainConfig]) -> PretrainConfig:
        """One variant's config as its reruns train it (seed aside); ``tuned`` holds each arm's best."""
        variant = self.variants[name]
        if variant.base.startswith(TUNED):
            arm = variant.base.removeprefix(TUNED)
            arms = list(self.tune.arms) if self.tune else []
            if arm not in arms:
                raise SearchSpaceError(f"study {self.name!r}: variant {name!r} uses base {variant.base!r} but the "
                                       f"study tunes {', '.join(arms) or 'no arm'}")
            base = tuned[arm]
        else:
            base = load_preset(variant.base)
        tree = with_overrides(base.model_dump(mode="json"), {**self.scale, **variant.set, **self.rerun})
        return validate_config(tree, source=f"study {self.name!r} variant {name!r}")

    def paper_cells(self, tuned: dict[str, PretrainConfig]) -> dict[str, PaperCell | None]:
        """Each variant's Table S5 cell at ``paper_scale`` (None: no row, or no cell of its shape)."""
        cells = {}
        for name, variant in self.variants.items():
            cfg = self.variant_config(name, tuned)
            cells[name] = (paper_cell(variant.paper_row, cfg.model.projector, cfg.model.embedding_dim,
                                      self.paper_scale) if variant.paper_row else None)
        return cells

    def reruns_space(self, tuned: dict[str, PretrainConfig]) -> SearchSpace:
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
        """Any config the rules can overwrite: the first fixed variant's, else the first arm's base."""
        fixed = [v.base for v in self.variants.values() if not v.base.startswith(TUNED)]
        return fixed[0] if fixed else load_space(next(iter(self.tune.arms.values()))).base

    def stand_ins(self) -> dict[str, PretrainConfig]:
        """Each arm's base config, standing in for its best before it is tuned."""
        return {arm: self.arm_space(arm).base_config() for arm in (self.tune.arms if self.tune else {})}

    def check(self) -> None:
        """Every arm is a valid space under the shared budget and every variant gives a valid
        config (a tuned one checked on its arm's base), before any compute."""
        if MAIN in self.parts:
            raise SearchSpaceError(f"study {self.name!r}: {MAIN!r} names the tuning arms and reruns; call the "
                                   "figure part something else")
        stand_ins = self.stand_ins()
        self.reruns_space(stand_ins)
        self.paper_cells(stand_ins)
        for part in self.parts:
            self.part_space(part)


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
class ArmOutcome:
    """One tuning arm: its campaign, how many trials it ran and finished, the epochs and
    wall time it spent."""
    arm: str
    campaign: str
    trials: int
    completed: int
    epochs: int
    wall_time_s: float


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
    paper: dict[str, PaperCell | None]  # each variant's matched Table S5 cell, in the study's variant order
    configs: dict[str, PretrainConfig]  # each variant's config as its reruns trained it (seed aside)
    reruns: list[RerunOutcome] = field(default_factory=list)
    arms: list[ArmOutcome] = field(default_factory=list)
    reruns_campaign: str = ""
    baselines: dict[str, float] = field(default_factory=dict)  # raw pixels and the untrained network, on test
    paper_scale: int = 16  # the paper's widths and d over the study's (how its cells were matched)

    def save(self) -> Path:
        path = Path(self.folder) / STUDY_FILE
        saved = {**asdict(self), "configs": {n: c.model_dump(mode="json") for n, c in self.configs.items()}}
        path.write_text(json.dumps(saved, indent=1))
        return path

    @classmethod
    def load(cls, folder: Path) -> StudyOutcome:
        raw = json.loads((Path(folder) / STUDY_FILE).read_text())
        if "arms" not in raw:
            raise SearchSpaceError(f"{folder}/{STUDY_FILE} was written before studies had tuning arms (its keys: "
                                   f"{', '.join(sorted(raw))}); rerun the study to report it")
        raw["reruns"] = [RerunOutcome(**r) for r in raw["reruns"]]
        raw["arms"] = [ArmOutcome(**a) for a in raw["arms"]]
        raw["paper"] = {name: PaperCell(**cell) if cell else None for name, cell in raw["paper"].items()}
        raw["configs"] = {name: validate_config(config, source=f"{folder}/{STUDY_FILE} variant {name!r}")
                          for name, config in raw["configs"].items()}
        return cls(**raw)


def newest_study(runs_dir: Path, study: str) -> StudyOutcome | None:
    """The newest finished main part of ``study`` under ``runs_dir`` (ones saved by an older
    dualtune are passed over), or None."""
    found = []
    for path in Path(runs_dir).glob(f"*/{STUDY_FILE}"):
        try:
            outcome = StudyOutcome.load(path.parent)
        except SearchSpaceError:
            continue
        if outcome.study == study:
            found.append(outcome)
    return max(found, key=lambda o: o.started, default=None)


def machine_description() -> str:
    import os

    import torch
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def run_study(study: Study, options: CampaignOptions = CampaignOptions(), *, announce=print) -> StudyOutcome:
    """Tune every arm under the shared budget, then rerun every variant with every seed; save
    study.json.  Every campaign runs with ``options`` (runs folder, cluster, stores, display)."""
    started, clock = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.perf_counter()
    runs = options.runs
    name = timestamped(study.name)
    folder = runs.campaign_dir(name)
    folder.mkdir(parents=True)
    tuned, arms = {}, []
    for arm in (study.tune.arms if study.tune else {}):
        space = study.arm_space(arm)
        announce(f"study {name}: tuning arm {arm} ({space.name}, {space.num_samples} trials)")
        result = run_campaign(space, options, name=f"{name}-tune-{arm}")
        if result.exported is None:
            raise SearchSpaceError(f"study {name}: tuning arm {arm!r} finished no trial; nothing to rerun")
        tuned[arm] = load_config(result.exported)
        arms.append(ArmOutcome(arm=arm, campaign=result.name, trials=len(result.rows),
                               completed=sum(r.status == TrialStatus.COMPLETED for r in result.rows),
                               epochs=int(sum(r.epoch or 0 for r in result.rows)), wall_time_s=result.wall_time_s))
    reruns = study.reruns_space(tuned)
    announce(f"study {name}: {reruns.num_samples} reruns ({len(study.variants)} variants x seeds {study.seeds})")
    rerun_result = run_campaign(reruns, options, name=f"{name}-reruns")
    outcome = StudyOutcome(
        study=study.name, description=study.description, folder=str(folder), tracking_uri=rerun_result.tracking_uri,
        started=started, wall_time_s=time.perf_counter() - clock, machine=machine_description(), seeds=study.seeds,
        paper=study.paper_cells(tuned), configs={n: study.variant_config(n, tuned) for n in study.variants},
        reruns=_outcomes(rerun_result), arms=arms, reruns_campaign=rerun_result.name,
        baselines=rerun_result.baselines, paper_scale=study.paper_scale)
    outcome.save()
    return outcome


def _outcomes(result: CampaignResult) -> list[RerunOutcome]:
    return [RerunOutcome(variant=row.sampled[VARIANT], seed=int(row.sampled["seed"]), status=row.status,
                         online_select_top1=row.online_select_top1,
                         linear_probe_test_top1=row.linear_probe_test_top1, knn_test_top1=row.knn_test_top1,
                         checkpoint=row.checkpoint, run_id=row.run_id, duration_s=row.duration_s)
            for row in result.rows]
