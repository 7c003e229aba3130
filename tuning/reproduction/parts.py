"""A study's figure parts: one grid campaign of a figure's space each (Fig. 2, Fig. S3, Fig. S6,
Table S5 at CPU scale), saved as ``PART.json`` in the study's results folder and reported as a
table of its cells, the best chosen on select and reported on test."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats

from tuning.campaign.paths import timestamped
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.statuses import TrialStatus
from tuning.reproduction.paper_table import PaperCell
from tuning.run import reports


def outcome_path(results: Path, part: str) -> Path:
    """Where part ``part`` of a study saves its outcome: ``PART.json`` in the results folder."""
    return Path(results) / f"{part}.json"


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
class PartOutcome:
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

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> PartOutcome:
        raw = json.loads(Path(path).read_text())
        raw["cells"] = [CellOutcome(**c) for c in raw["cells"]]
        return cls(**raw)

    def best(self, cells: list[CellOutcome] | None = None) -> CellOutcome | None:
        """The completed cell with the best select linear probe (never test)."""
        done = [c for c in (self.cells if cells is None else cells)
                if c.status == TrialStatus.COMPLETED and c.linear_probe_select_top1 is not None]
        return max(done, key=lambda c: c.linear_probe_select_top1, default=None)


def run_part(study, part: str, options: CampaignOptions, results: Path, *, announce=print) -> PartOutcome:
    """Run figure part ``part`` of ``study`` (its space's grid, every cell); saved as PART.json in
    ``results``."""
    space = study.part_space(part)
    started, clock = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.perf_counter()
    name = timestamped(f"{study.name}-{part}")
    announce(f"study {study.name}, part {part}: {space.name} ({space.num_samples} cells)")
    result = run_campaign(space, options, name=name)
    cells = [CellOutcome(values={axis: row.sampled[axis] for axis in space.params}, status=row.status,
                         linear_probe_select_top1=row.linear_probe_select_top1,
                         linear_probe_test_top1=row.linear_probe_test_top1, knn_test_top1=row.knn_test_top1,
                         duration_s=row.duration_s) for row in result.rows]
    outcome = PartOutcome(study=study.name, part=part, space=space.name, description=space.description,
                          campaign=result.name, folder=str(options.runs.campaign_dir(result.name)), started=started,
                          wall_time_s=time.perf_counter() - clock, axes=list(space.params), cells=cells,
                          baselines=result.baselines)
    outcome.save(outcome_path(results, part))
    return outcome


def saved_parts(results: Path, study: str, parts: list[str]) -> list[PartOutcome]:
    """The saved outcome of each of ``parts`` of ``study`` in ``results`` that has run, in order."""
    saved = [PartOutcome.load(outcome_path(results, part)) for part in parts
             if outcome_path(results, part).is_file()]
    return [outcome for outcome in saved if outcome.study == study]


def part_section(outcome: PartOutcome, paper: list[PaperCell | None] | None = None) -> list[str]:
    """A figure part as markdown: every cell (beside the paper's Table S5 cell, where ``paper``
    gives one per cell), and the best chosen on select per value of its first axis."""
    def score(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    paper_of = {id(cell): matched for cell, matched in zip(outcome.cells, paper)} if paper else {}
    paper_column = bool(paper_of)
    lines = [f"### Part `{outcome.part}`: {outcome.description}", "",
             f"Space `{outcome.space}`, campaign `{outcome.campaign}`, {len(outcome.cells)} cells, one seed each, "
             f"{outcome.wall_time_s / 60:.0f} minutes.", "",
             "| " + " | ".join(outcome.axes) + (" | paper (Table S5 cell)" if paper_column else "")
             + " | linear probe (select) | linear probe (test) | k-NN (test) |",
             "|" + "---|" * (len(outcome.axes) + 3 + paper_column)]
    for cell in sorted(outcome.cells, key=lambda c: [str(c.values[a]) for a in outcome.axes]):
        matched = paper_of.get(id(cell))
        lines.append("| " + " | ".join(str(cell.values[a]) for a in outcome.axes)
                     + (f" | {matched.label() if matched else '-'}" if paper_column else "")
                     + f" | {score(cell.linear_probe_select_top1)} | {score(cell.linear_probe_test_top1)} | "
                     f"{score(cell.knn_test_top1)} |")
    first = outcome.axes[0]
    lines += ["", f"Best cell for each `{first}` (chosen on select, reported on test):", ""]
    for value in dict.fromkeys(c.values[first] for c in outcome.cells):
        best = outcome.best([c for c in outcome.cells if c.values[first] == value])
        if best is not None:
            where = ", ".join(f"{a}={best.values[a]}" for a in outcome.axes[1:])
            lines.append(f"- {first}={value}: {score(best.linear_probe_test_top1)} ({where})")
    if paper_column:
        lines += ["", paper_agreement(outcome.cells, paper)]
    pixels = outcome.baselines.get(reports.baseline_key("raw_pixels", reports.LINEAR_PROBE_TEST_TOP1))
    if pixels is not None:
        lines += ["", f"Raw pixels through the same linear probe: {pixels:.2f} on test."]
    return lines


def paper_agreement(cells: list[CellOutcome], paper: list[PaperCell | None]) -> str:
    """How far the paper's ordering of its Table S5 cells carries over to ours: Spearman's rank
    correlation between the paper's top-1 and our test linear probe over the cells that have both,
    with its two-sided p-value (no correlation as the null)."""
    pairs = [(matched.top1, cell.linear_probe_test_top1) for cell, matched in zip(cells, paper)
             if matched is not None and cell.linear_probe_test_top1 is not None]
    if len(pairs) < 3:
        return f"Too few cells with a paper cell and a test score ({len(pairs)}) to compare orderings."
    rho, p_value = stats.spearmanr(*zip(*pairs))
    if p_value < 0.05:
        reading = ("the paper's ordering of these cells carries over" if rho > 0 else
                   "these cells are ordered against the paper's")
    else:
        reading = "no ordering shared with the paper's can be told from noise at one seed a cell"
    return (f"Ordering against the paper's: Spearman's rho {rho:+.2f} between its Table S5 top-1 and our test "
            f"linear probe over {len(pairs)} cells (two-sided p = {p_value:.3f}): {reading}.")
