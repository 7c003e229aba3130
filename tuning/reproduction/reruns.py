"""Studies: tuning campaigns of equal budget, then every variant's config rerun over several seeds.

A study file (search_spaces/studies/NAME.yaml) names its tuning arms (a space each, whose best
config is the variant base ``tuned:ARM``), the budget every arm shares (``tune``: trials,
sampler, scheduler and rung metric are the study's, not the spaces', so the arms are equal by
construction; each space brings only its parameters and its method), the seeds, values every
rerun shares (``rerun``) and the variants, each a preset or config with dotted ``set`` values
and the row of the paper's Table S5 it reproduces.  The study runs in parts, each of which fits
in a sitting: ``tune`` (the arms), ``main`` (the reruns, as one grid campaign over (variant,
seed): what the variants share is its base and the rest of each variant's config a ``settings``
rule keyed on the ``variant`` label, so MLflow, export and the saved space say exactly what each
trial trained; then the analyses of one checkpoint per variant) and the figure parts.  Each
part's outcome is saved as ``PART.json`` in the study's results folder (beside the report, kept
in git), from which the report is written.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
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
from tuning.reproduction.analyses import StudyAnalysis, analyse_variants
from tuning.reproduction.paper_table import PaperCell, TableS5Row, paper_cell
from tuning.reproduction.parts import PartOutcome, outcome_path
from tuning.run import reports

TUNED = "tuned:"  # a variant base "tuned:ARM" is that tuning arm's best config
TUNE = "tune"  # the part of a study that tunes its arms
MAIN = "main"  # the part that reruns its variants over the seeds and analyses them
ANALYSES = "analyses"  # the part that retrains the analysed seed of each variant and analyses it again
CELL_AXES = ("loss.method", "model.projector", "model.embedding_dim")  # what names a Table S5 cell


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
                                  f"--part NAME; {TUNE!r} is the tuning arms, {MAIN!r} the variants' reruns)")
    paper_rows: dict[str, dict[str, TableS5Row]] = Field(
        default_factory=dict, description="figure part -> loss.method -> the Table S5 row whose recipe (Table S6) "
        "the part trains that method with: each of the part's cells is set beside the paper's cell of its "
        "projector and d at paper_scale")

    def part_names(self) -> list[str]:
        """Every part in the order they run: the tuning arms (if any), the reruns, the figures."""
        return [*([TUNE] if self.tune else []), MAIN, *self.parts]

    def part_space(self, part: str) -> SearchSpace:
        """The grid space of figure part ``part`` at the study's scale."""
        if part not in self.parts:
            raise SearchSpaceError(f"study {self.name!r} has no figure part {part!r}; its parts: "
                                   f"{', '.join(self.part_names())}")
        return load_space(self.parts[part]).with_base_values(self.scale)

    def part_paper_cells(self, outcome: PartOutcome) -> list[PaperCell | None] | None:
        """The paper's Table S5 cell beside each cell of figure part ``outcome`` (None in place of a
        cell with no match; None for a part the study names no rows for)."""
        rows = self.paper_rows.get(outcome.part)
        if rows is None:
            return None
        method, projector, dim = CELL_AXES
        return [paper_cell(rows[c.values[method]], c.values[projector], c.values[dim], self.paper_scale)
                for c in outcome.cells]

    def _check_paper_rows(self) -> None:
        """Each part with paper rows varies a Table S5 cell's axes, and names a row for each method."""
        for part, rows in self.paper_rows.items():
            if part not in self.parts:
                raise SearchSpaceError(f"study {self.name!r}: paper_rows names {part!r}, which is not one of its "
                                       f"figure parts ({', '.join(self.parts) or 'none'})")
            params = self.part_space(part).params
            missing = [axis for axis in CELL_AXES if axis not in params]
            if missing:
                raise SearchSpaceError(f"study {self.name!r}: part {part!r} has paper_rows but does not vary "
                                       f"{', '.join(missing)}; a Table S5 cell is named by {', '.join(CELL_AXES)}")
            methods = set(params[CELL_AXES[0]].choices)
            if methods != set(rows):
                raise SearchSpaceError(f"study {self.name!r}: part {part!r}'s paper_rows name the methods "
                                       f"{sorted(rows)}; its space varies loss.method over {sorted(methods)}")

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

    def reruns_space(self, tuned: dict[str, PretrainConfig], seeds: list[int] | None = None) -> SearchSpace:
        """The grid campaign of every (variant, seed) (``seeds``: the study's unless given): what
        all variants share is its base, and one ``settings`` rule per variant sets the rest of its
        config but the seed."""
        seeds = self.seeds if seeds is None else seeds
        configs = {name: self.variant_config(name, tuned) for name in self.variants}
        if len({cfg.resources.model_dump_json() for cfg in configs.values()}) > 1:
            raise SearchSpaceError(f"study {self.name!r}: its variants ask for different resources; one campaign's "
                                   "trials share them: set resources.* in the study's rerun section")
        values = {name: {k: v for k, v in flatten(cfg.model_dump(mode="json")).items()
                         if not k.startswith(("resources.", "loss.params.")) and k != "seed"}
                  for name, cfg in configs.items()}
        # What every variant shares (the study's scale among it) is the campaign's base, so that its
        # base config, which the progress line's epochs and the baselines' data are read from, is
        # what each trial trains wherever they agree; a rule sets the rest.
        common = {k: v for k, v in next(iter(values.values())).items()
                  if all(k in own and own[k] == v for own in values.values())}
        rules = [{"when": {VARIANT: [name]}, "set": {**{k: v for k, v in own.items() if k not in common},
                                                     "loss.params": configs[name].loss.params}}
                 for name, own in values.items()]
        # A campaign's trials share one resources section (the first variant's, ``rerun`` included);
        # the base's loss params are emptied so that each rule's are the only ones.
        shared = {f"resources.{k}": v for k, v in next(iter(configs.values())).resources.model_dump().items()}
        space = SearchSpace(
            name=f"{self.name}_reruns", description=f"{self.description}: every variant x seeds {seeds}",
            base=self._base_source(), overrides={"loss.params": {}, **shared, **common},
            max_concurrent_trials=2, sampler="grid", scheduler={"type": "fifo"},
            params={VARIANT: {"distribution": "categorical", "choices": list(self.variants)},
                    "seed": {"distribution": "categorical", "choices": list(seeds)}},
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
        clash = {TUNE, MAIN} & set(self.parts)
        if clash:
            raise SearchSpaceError(f"study {self.name!r}: {', '.join(map(repr, sorted(clash)))} names a part of its "
                                   f"own ({TUNE!r} the tuning arms, {MAIN!r} the reruns); call the figure part "
                                   "something else")
        stand_ins = self.stand_ins()
        self.reruns_space(stand_ins)
        self.paper_cells(stand_ins)
        for part in self.parts:
            self.part_space(part)
        self._check_paper_rows()


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
class TuneOutcome:
    """The tune part: each arm's campaign and its best config, chosen on select (saved as tune.json)."""
    study: str
    started: str
    wall_time_s: float
    arms: list[ArmOutcome]
    tuned: dict[str, PretrainConfig]  # arm -> its best config, the base tuned:ARM

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps({**asdict(self), "tuned": _dump_configs(self.tuned)}, indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> TuneOutcome:
        raw = _read_outcome(path, cls)
        return cls(**{**raw, "arms": [ArmOutcome(**a) for a in raw["arms"]],
                      "tuned": _load_configs(raw["tuned"], path)})


@dataclass
class StudyOutcome:
    """The main part: every variant's reruns over the seeds and their analyses (saved as
    main.json), with the tuning arms they started from; read by the report."""
    study: str
    description: str
    folder: str  # the reruns campaign's folder
    tracking_uri: str
    started: str
    wall_time_s: float
    machine: str
    seeds: list[int]
    paper: dict[str, PaperCell | None]  # each variant's matched Table S5 cell, in the study's variant order
    configs: dict[str, PretrainConfig]  # each variant's config as its reruns trained it (seed aside)
    reruns: list[RerunOutcome]
    arms: list[ArmOutcome]
    reruns_campaign: str
    baselines: dict[str, float]  # raw pixels and the untrained network, on test
    paper_scale: int  # the paper's widths and d over the study's (how its cells were matched)
    analysis: StudyAnalysis | None  # one checkpoint per variant, analysed while the checkpoints exist

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps({**asdict(self), "configs": _dump_configs(self.configs)}, indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> StudyOutcome:
        raw = _read_outcome(path, cls)
        return cls(**{**raw, "reruns": [RerunOutcome(**r) for r in raw["reruns"]],
                      "arms": [ArmOutcome(**a) for a in raw["arms"]],
                      "paper": {name: PaperCell(**cell) if cell else None for name, cell in raw["paper"].items()},
                      "configs": _load_configs(raw["configs"], path),
                      "analysis": StudyAnalysis(**raw["analysis"]) if raw["analysis"] else None})


def _dump_configs(configs: dict[str, PretrainConfig]) -> dict[str, Any]:
    return {name: config.model_dump(mode="json") for name, config in configs.items()}


def _load_configs(raw: dict[str, Any], path: Path) -> dict[str, PretrainConfig]:
    return {name: validate_config(config, source=f"{path} config {name!r}") for name, config in raw.items()}


def _read_outcome(path: Path, kind: type) -> dict[str, Any]:
    """A saved outcome's fields, refused with a clear error when an older dualtune wrote it."""
    raw = json.loads(Path(path).read_text())
    missing = sorted(set(kind.__dataclass_fields__) - set(raw))
    if missing:
        raise SearchSpaceError(f"{path} was written by an older dualtune (it lacks {', '.join(missing)}); rerun "
                               "that part of the study to report it")
    return raw


def machine_description() -> str:
    import os

    import torch
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, "
            f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def run_tuning(study: Study, options: CampaignOptions, results: Path, *, announce=print) -> TuneOutcome:
    """The tune part: a campaign per arm under the shared budget; saved as tune.json in ``results``.
    Every campaign runs with ``options`` (runs folder, cluster, stores, display)."""
    started, clock = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.perf_counter()
    name = timestamped(study.name)
    tuned, arms = {}, []
    for arm in study.tune.arms:
        space = study.arm_space(arm)
        announce(f"study {name}: tuning arm {arm} ({space.name}, {space.num_samples} trials)")
        result = run_campaign(space, options, name=f"{name}-tune-{arm}")
        if result.exported is None:
            raise SearchSpaceError(f"study {name}: tuning arm {arm!r} finished no trial; nothing to rerun")
        tuned[arm] = load_config(result.exported)
        arms.append(ArmOutcome(arm=arm, campaign=result.name, trials=len(result.rows),
                               completed=sum(r.status == TrialStatus.COMPLETED for r in result.rows),
                               epochs=int(sum(r.epoch or 0 for r in result.rows)), wall_time_s=result.wall_time_s))
    outcome = TuneOutcome(study=study.name, started=started, wall_time_s=time.perf_counter() - clock, arms=arms,
                          tuned=tuned)
    outcome.save(outcome_path(results, TUNE))
    return outcome


def saved_tuning(study: Study, results: Path) -> TuneOutcome | None:
    """The tune part's saved outcome in ``results``, checked to tune this study's arms (None for a
    study without arms); refused, before any compute, when it is missing or tuned other arms."""
    if not study.tune:
        return None
    path = outcome_path(results, TUNE)
    if not path.is_file():
        raise SearchSpaceError(f"study {study.name!r}: no {path}; run `dualtune study {study.name} --part {TUNE}` "
                               f"first (its arms' best configs are the bases {TUNED}ARM)")
    tuning = TuneOutcome.load(path)
    if tuning.study != study.name or set(tuning.tuned) != set(study.tune.arms):
        raise SearchSpaceError(f"{path} tuned study {tuning.study!r}, arms {', '.join(sorted(tuning.tuned))}; study "
                               f"{study.name!r} tunes {', '.join(sorted(study.tune.arms))}: rerun --part {TUNE}")
    return tuning


def run_study(study: Study, options: CampaignOptions, results: Path, *, announce=print) -> StudyOutcome:
    """The main part: every variant rerun with every seed (its tuned bases from ``results``'s
    tune.json), then one checkpoint per variant analysed, figures into ``results``; saved as
    main.json there."""
    tuning = saved_tuning(study, results)
    tuned = tuning.tuned if tuning else {}
    started, clock = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.perf_counter()
    reruns = study.reruns_space(tuned)
    name = timestamped(f"{study.name}-reruns")
    announce(f"study {study.name}: {reruns.num_samples} reruns ({len(study.variants)} variants x seeds "
             f"{study.seeds})")
    result = run_campaign(reruns, options, name=name)
    outcomes = _outcomes(result)
    in_study_order = sorted(outcomes, key=lambda r: list(study.variants).index(r.variant))
    analysis = analyse_variants(in_study_order, options.runs, result.name, results)
    outcome = StudyOutcome(
        study=study.name, description=study.description, folder=str(options.runs.campaign_dir(result.name)),
        tracking_uri=result.tracking_uri, started=started, wall_time_s=time.perf_counter() - clock,
        machine=machine_description(), seeds=study.seeds, paper=study.paper_cells(tuned),
        configs={n: study.variant_config(n, tuned) for n in study.variants}, reruns=outcomes,
        arms=tuning.arms if tuning else [], reruns_campaign=result.name, baselines=result.baselines,
        paper_scale=study.paper_scale, analysis=analysis)
    outcome.save(outcome_path(results, MAIN))
    return outcome


def saved_main(study: Study, results: Path) -> StudyOutcome:
    """The main part's saved outcome in ``results``, checked to hold this study's variants as the
    study trains them now; refused, before any compute, when missing or trained otherwise."""
    path = outcome_path(results, MAIN)
    if not path.is_file():
        raise SearchSpaceError(f"study {study.name!r}: no {path}; run `dualtune study {study.name} --part {MAIN}` "
                               f"first (part {ANALYSES!r} analyses its variants again)")
    outcome = StudyOutcome.load(path)
    tuning = saved_tuning(study, results)
    now = {name: study.variant_config(name, tuning.tuned if tuning else {}) for name in study.variants}
    changed = sorted(name for name in set(now) | set(outcome.configs) if now.get(name) != outcome.configs.get(name))
    if outcome.study != study.name or changed:
        raise SearchSpaceError(f"{path}: variants {', '.join(changed)} were rerun with other configs than study "
                               f"{study.name!r} gives now; rerun --part {MAIN}")
    return outcome


def run_analyses(study: Study, options: CampaignOptions, results: Path, *, announce=print) -> StudyOutcome:
    """The analyses part: the main part's analyses again without its reruns (whose checkpoints
    are gone once it ends): each variant's analysed seed (the lowest) retrained with the main
    part's config, analysed, and saved in place of main.json's analyses; its table is unchanged."""
    outcome = saved_main(study, results)
    tuning = saved_tuning(study, results)
    seed = min(study.seeds)
    name = timestamped(f"{study.name}-{ANALYSES}")
    announce(f"study {study.name}: retraining seed {seed} of {len(study.variants)} variants to analyse them")
    result = run_campaign(study.reruns_space(tuning.tuned if tuning else {}, seeds=[seed]), options, name=name)
    retrained = sorted(_outcomes(result), key=lambda r: list(study.variants).index(r.variant))
    outcome.analysis = analyse_variants(retrained, options.runs, result.name, results, retrained=True)
    outcome.save(outcome_path(results, MAIN))
    return outcome


def _outcomes(result: CampaignResult) -> list[RerunOutcome]:
    return [RerunOutcome(variant=row.sampled[VARIANT], seed=int(row.sampled["seed"]), status=row.status,
                         online_select_top1=row.online_select_top1,
                         linear_probe_test_top1=row.linear_probe_test_top1, knn_test_top1=row.knn_test_top1,
                         checkpoint=row.checkpoint, run_id=row.run_id, duration_s=row.duration_s)
            for row in result.rows]
