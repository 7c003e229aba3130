"""Studies: what a study is (its schema, loaded from search_spaces/studies/NAME.yaml and checked
before any compute), the saved outcomes it checks before a part builds on them, and the order
in which its parts run.

A study file names its tuning arms (a space each, whose best config is the variant base
``tuned:ARM``), the budget every arm shares (``tune``: trials, sampler, scheduler and rung
metric are the study's, not the spaces', so the arms get equal compute by construction; each
space brings only its parameters and its method), the seeds, values every rerun shares
(``rerun``) and the variants, each a preset or config with dotted ``set`` values and the row of
the paper's Table S5 it reproduces.  The study runs in parts, each of which fits in a sitting:
``tune`` (the arms), ``main`` (the reruns, as one grid campaign over (variant, seed): what the
variants share is its base and the rest of each variant's config a ``settings`` rule keyed on
the ``variant`` label, so MLflow, export and the saved space say exactly what each trial
trained; then the analyses of one checkpoint per variant) and the figure parts.  Each part's
outcome is saved as ``PART.json`` in the study's results folder (beside the report, kept in
git), from which the report is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from search_spaces import find_study, list_studies
from tuning.campaign.search.driver import CampaignOptions
from tuning.campaign.space import VARIANT, SchedulerSpec, SearchSpace, load_preset, load_space
from tuning.config import (
    PretrainConfig,
    Strict,
    describe_validation_error,
    flatten,
    nearest,
    read_yaml_mapping,
    validate_config,
    with_overrides,
)
from tuning.errors import ConfigError, SearchSpaceError
from tuning.reproduction.outcomes import (
    ANALYSES,
    MAIN,
    TUNE,
    PartOutcome,
    StudyOutcome,
    TuneOutcome,
    outcome_path,
    results_folder,
    saved_parts,
)
from tuning.reproduction.paper_table import CELL_AXES, PaperCell, TableS5Row, paper_cell
from tuning.reproduction.report import ArmSearch, ReportInputs, write_report
from tuning.reproduction.reruns import run_analyses, run_main, run_part, run_tuning
from tuning.run import reports

TUNED = "tuned:"  # a variant base "tuned:ARM" is that tuning arm's best config
ALL = "all"  # every part of a study, in order


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
    paper_note: str = Field("", description="a footnote to the variant's paper cell in the report (what the "
                            "match does not capture)")


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

    def arm_searches(self, tuned: dict[str, PretrainConfig]) -> dict[str, ArmSearch]:
        """What each arm searches (its parameters' ranges) and whether its best config (``tuned``)
        is its start point, the space's first point to evaluate."""
        searches = {}
        for arm in self.tune.arms if self.tune else {}:
            space = self.arm_space(arm)
            start = space.points_to_evaluate[0] if space.points_to_evaluate else None
            best = flatten(tuned[arm].model_dump(mode="json")) if arm in tuned else None
            searches[arm] = ArmSearch(
                params={name: param.describe() for name, param in space.params.items()},
                kept_start=bool(start and best and all(best.get(k) == v for k, v in start.items())))
        return searches

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
        study = Study.model_validate(read_yaml_mapping(path, "study", SearchSpaceError))
    except ValidationError as error:
        raise SearchSpaceError(f"study {str(path)!r}: {describe_validation_error(error, set(Study.model_fields))}") \
            from None
    study.check()
    return study


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


def run_parts(study: Study, part: str, options: CampaignOptions, results: Path, *, announce=print) -> None:
    """Run part ``part`` of ``study`` (``all``: each in order; ``analyses``: the main part's analyses
    again), saving each outcome in ``results``; what a part builds on is checked before any runs."""
    if part not in {*study.part_names(), ANALYSES, ALL}:
        raise ConfigError(f"--part {part!r}: study {study.name!r} has the parts {', '.join(study.part_names())}, "
                          f"{ALL} (each in order) and {ANALYSES} (the main part's analyses again)")
    chosen = study.part_names() if part == ALL else [part]
    if MAIN in chosen and TUNE not in chosen:
        saved_tuning(study, results)  # refused now, not after the figure parts ran
    if ANALYSES in chosen:
        saved_main(study, results)
    results.mkdir(parents=True, exist_ok=True)
    for each in chosen:
        if each == TUNE:
            run_tuning(study, options, results, announce=announce)
        elif each == MAIN:
            run_main(study, saved_tuning(study, results), options, results, announce=announce)
        elif each == ANALYSES:
            run_analyses(study, saved_main(study, results), saved_tuning(study, results), options, results,
                         announce=announce)
        else:
            run_part(study, each, options, results, announce=announce)
        announce(f"part {each}: {outcome_path(results, MAIN if each == ANALYSES else each)}")


def report_inputs(study: Study, results: Path) -> ReportInputs | None:
    """What the report of ``study`` reads from ``results``: the main part's outcome (None until
    it is saved), the figure parts saved and pending, and what the study says of its variants."""
    main = outcome_path(results, MAIN)
    if not main.is_file():
        return None
    parts = saved_parts(results, study.name, list(study.parts))
    tuning = saved_tuning(study, results) if study.tune and outcome_path(results, TUNE).is_file() else None
    return ReportInputs(
        main=StudyOutcome.load(main), rows={name: v.paper_row for name, v in study.variants.items()}, parts=parts,
        pending=[name for name in study.parts if name not in {p.part for p in parts}],
        paper_cells={p.part: study.part_paper_cells(p) for p in parts if p.part in study.paper_rows},
        arms=study.arm_searches(tuning.tuned if tuning else {}), rung_metric=study.tune.metric if study.tune else None,
        part_rows=study.paper_rows, notes={name: v.paper_note for name, v in study.variants.items() if v.paper_note})


def conduct(study: Study, report: Path, part: str | None = None, options: CampaignOptions | None = None, *,
            announce=print) -> Path | None:
    """Run ``part`` of ``study`` with ``options`` (None: run nothing), then rewrite ``report`` from
    every part saved beside it; the report's path, or None while the main part is not saved."""
    results = results_folder(report)
    if part is not None:
        run_parts(study, part, options, results, announce=announce)
    inputs = report_inputs(study, results)
    if inputs is None:
        announce(f"no main part of {study.name} saved in {results}/ yet; run --part {MAIN} to write the report")
        return None
    return write_report(inputs, report)
