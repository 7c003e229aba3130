"""What a study's parts save: one outcome type per kind of part, each kept as ``PART.json`` in the
study's results folder (beside its report, in git), so the report can be rewritten from them
alone at any later sitting.  Every outcome is saved and loaded the same way (``Saved``)."""
from __future__ import annotations

import json
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tuning.campaign.statuses import TrialStatus
from tuning.config import PretrainConfig, validate_config
from tuning.errors import SearchSpaceError
from tuning.reproduction.analyses import StudyAnalysis
from tuning.reproduction.paper_table import PaperCell

TUNE = "tune"  # the part of a study that tunes its arms
MAIN = "main"  # the part that reruns its variants over the seeds and analyses them
ANALYSES = "analyses"  # the part that retrains the analysed seed of each variant and analyses it again


def results_folder(report: Path) -> Path:
    """A study's results folder: beside its report, named after it (docs/reproduction/ for
    docs/reproduction.md); it holds each part's saved outcome and the analyses' figures."""
    return Path(report).parent / Path(report).stem


def outcome_path(results: Path, part: str) -> Path:
    """Where part ``part`` of a study saves its outcome: ``PART.json`` in the results folder."""
    return Path(results) / f"{part}.json"


class Saved:
    """An outcome saved as JSON: dataclasses as objects, configs as their JSON dump; loading
    rebuilds each field as its annotation says, and refuses a file an older dualtune wrote."""

    def save(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(_encode(self), indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: Path):
        raw = json.loads(Path(path).read_text())
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        missing = sorted(required - set(raw))
        if missing:
            raise SearchSpaceError(f"{path} was written by an older dualtune (it lacks {', '.join(missing)}); rerun "
                                   "that part of the study to report it")
        return _decode(cls, raw, str(path))


def _encode(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(kind: Any, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as type ``kind``: dataclasses and configs rebuilt, containers item by item."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        return _decode(next(arg for arg in args if arg is not type(None)), value, where)
    if origin is list:
        return [_decode(args[0], item, where) for item in value]
    if origin is dict:
        return {key: _decode(args[1], item, where) for key, item in value.items()}
    if kind is PretrainConfig:
        return validate_config(value, source=where)
    if is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: _decode(hints[f.name], value[f.name], f"{where} {f.name}")
                       for f in fields(kind) if f.name in value})
    return value


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
class TuneOutcome(Saved):
    """The tune part: each arm's campaign and its best config, chosen on select (saved as tune.json)."""
    study: str
    started: str
    wall_time_s: float
    arms: list[ArmOutcome]
    tuned: dict[str, PretrainConfig]  # arm -> its best config, the base tuned:ARM


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
class StudyOutcome(Saved):
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


@dataclass
class CellOutcome:
    """One cell of a figure's grid: its values on the figure's axes and its scores."""
    values: dict[str, Any]
    status: str
    linear_probe_select_top1: float | None
    linear_probe_test_top1: float | None
    knn_test_top1: float | None
    duration_s: float | None


@dataclass
class PartOutcome(Saved):
    """What a figure part ran and measured (saved as PART.json in the results folder)."""
    study: str
    part: str
    space: str
    description: str
    campaign: str
    folder: str  # the campaign's folder
    started: str
    wall_time_s: float
    axes: list[str]
    cells: list[CellOutcome] = field(default_factory=list)
    baselines: dict[str, float] = field(default_factory=dict)
    probe_crop: float = field(kw_only=True)  # the centre crop the probes and k-NN saw (1.0: the whole image)

    def best(self, cells: list[CellOutcome] | None = None) -> CellOutcome | None:
        """The completed cell with the best select linear probe (never test)."""
        done = [c for c in (self.cells if cells is None else cells)
                if c.status == TrialStatus.COMPLETED and c.linear_probe_select_top1 is not None]
        return max(done, key=lambda c: c.linear_probe_select_top1, default=None)


def saved_parts(results: Path, study: str, parts: list[str]) -> list[PartOutcome]:
    """The saved outcome of each of ``parts`` of ``study`` in ``results`` that has run, in order."""
    saved = [PartOutcome.load(outcome_path(results, part)) for part in parts
             if outcome_path(results, part).is_file()]
    return [outcome for outcome in saved if outcome.study == study]
