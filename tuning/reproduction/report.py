"""A study's report, written from the outcomes its parts saved in its results folder: our
numbers beside the paper's Table S5 cells, a verdict per claim of the paper measured on the
study's own runs, the analyses of one checkpoint per variant and a section per figure part.
Each section has its writer; ``write_report`` sets them in order."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scipy import stats

from tuning.reproduction.analyses import StudyAnalysis
from tuning.reproduction.claims import (
    JUDGED_BY,
    Summary,
    claims,
    judged_claims,
    main_table_claims,
    projector_note,
    recipe_order_notes,
    summaries,
)
from tuning.reproduction.outcomes import MAIN, TUNE, CellOutcome, PartOutcome, StudyOutcome, results_folder
from tuning.reproduction.paper_table import PaperCell
from tuning.reproduction.verdicts import MATCH_MARGIN, Outcome, Verdict, holm
from tuning.run import reports


@dataclass(frozen=True)
class ArmSearch:
    """What a tuning arm searched: each parameter's range, and whether its best config is its start point."""
    params: dict[str, str]
    kept_start: bool = False


@dataclass(frozen=True)
class ReportInputs:
    """What a report is written from: the main part's outcome, each variant's Table S5 row, the
    figure parts saved (each cell's paper cell, for the parts the study names rows for) and those
    not yet run; from the study: what each arm searched, the rung metric they stopped on, each
    figure part's Table S5 row per method, and a note on a variant's paper cell."""
    main: StudyOutcome
    rows: dict[str, str | None]
    parts: list[PartOutcome]
    pending: list[str]
    paper_cells: dict[str, list[PaperCell | None]]
    arms: dict[str, ArmSearch] = field(default_factory=dict)
    rung_metric: str | None = None
    part_rows: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def write_report(inputs: ReportInputs, path: Path) -> Path:
    """``path`` (markdown) with the main part's tables, verdicts and analyses (figures in
    ``results_folder(path)``), a section for each figure part saved and the names of those not
    yet run, each set beside the paper's cells where the study names them."""
    path = Path(path)
    folder = results_folder(path).name
    by_name = summaries(inputs.main, inputs.rows)
    judged = judged_claims(by_name, inputs.parts)
    lines = [*_opening(inputs.main, folder), *_what_ran(inputs), *_main_table(inputs, by_name),
             *_recipes(inputs.main, folder), *_claims(inputs, by_name, judged),
             *_verdicts(judged, main_table_claims(by_name)),
             *_analyses(inputs.main, by_name, folder), *_figure_parts(inputs), *_every_rerun(inputs.main),
             *_rerun_it(inputs.main, folder)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _opening(outcome: StudyOutcome, folder: str) -> list[str]:
    return [
        f"# Reproduction: {outcome.description}", "",
        f"Written by `dualtune study {outcome.study}` (`make reproduce`) from the outcomes its parts saved in "
        f"`{folder}/`. The main part (the reruns campaign `{outcome.reruns_campaign}` and the analyses) "
        f"started {outcome.started} and took {outcome.wall_time_s / 60:.0f} minutes on {outcome.machine}; the "
        f"tuning arms took {sum(a.wall_time_s for a in outcome.arms) / 60:.0f} minutes; each figure part gives its "
        "own.", ""]


def _what_ran(inputs: ReportInputs) -> list[str]:
    outcome = inputs.main
    config = next(iter(outcome.configs.values()))
    data = config.data
    return [
        "## What ran", "",
        f"- Data: `{data.train}`, {_subset(data.train_subset)}, of which {data.select_per_class} images a class are "
        f"held out as the select split that every choice is scored on; test: `{data.test}` (for bundled data, its "
        f"held-out split: Fashion-MNIST's official 10,000-image test set), where every number below is scored; "
        f"{data.resolution} px, global batch {data.batch_size}; the probes and k-NN see "
        + ("the whole image." if data.center_crop_ratio == 1 else
           f"its centre {data.center_crop_ratio:g} crop, resized back (the ImageNet convention, which costs raw "
           "pixels about 1.8 points of linear probe at this size)."),
        f"- Backbone {config.model.backbone}, {config.schedule.epochs} epochs, LARS, warm-up + cosine.",
        *[f"- Tuning arm {a.arm}: campaign `{a.campaign}`, {a.trials} trials ({a.completed} to the end), "
          f"{a.epochs} epochs trained, {a.wall_time_s / 60:.0f} minutes; its best config, chosen on select, is "
          f"the base `tuned:{a.arm}`" + (", and it is the arm's start point (the space's first point, Table S6's "
                                         "recipe): no other trial beat it on select, so this row is that recipe, "
                                         "not a tuned one." if a.arm in inputs.arms and inputs.arms[a.arm].kept_start
                                         else ".") for a in outcome.arms],
        *_equal_arms(inputs),
        f"- Each variant rerun with seeds {outcome.seeds} in the campaign `{outcome.reruns_campaign}`, every rerun "
        f"on {_workers(config.resources.workers)}.",
        f"- Judged by the offline linear probe ({JUDGED_BY}: its lr chosen on select, scored on "
        "test); at this scale the online probe lags it (benchmarks/RESULTS.md), so it is shown "
        "but not judged by.", ""]


def _equal_arms(inputs: ReportInputs) -> list[str]:
    """What equal arms means here: equal compute, not equal searches; and the rung metric's origin."""
    if len(inputs.main.arms) < 2:
        return ["- One tuning arm."]
    searched = "; ".join(f"{arm} {len(search.params)} ("
                         + ", ".join(f"{name} {described}" for name, described in search.params.items()) + ")"
                         for arm, search in inputs.arms.items())
    lines = ["- The arms get equal compute: the same trials, sampler, scheduler, rung metric and scale. They do not "
             "search alike: " + (f"they search different parameters over different ranges: {searched}."
                                 if searched else "each searches its own space's parameters.")]
    if inputs.rung_metric:
        lines.append(f"- Every arm's ASHA stopped trials, and TPE learned, on `{inputs.rung_metric}`, a rung metric "
                     "chosen on SimCLR trials alone (benchmarks/RESULTS.md, 'Rung metrics: which early number ranks "
                     "trials'); the learning-curve table's VICReg grid checks how it ranks VICReg trials "
                     "(benchmarks/RESULTS.md, 'The SSL learning-curve table, and rung metrics ranked on it').")
    return lines


def _main_table(inputs: ReportInputs, by_name: dict[str, Summary]) -> list[str]:
    outcome = inputs.main
    lines = [
        "## Main table", "",
        "Mean ± standard deviation over seeds (min-max), on test. The paper's column is the Table S5 cell "
        "(ImageNet, ResNet-50, 100 epochs, online top-1) of the variant's row at its projector and d scaled up by "
        f"{outcome.paper_scale}x, or '-' where Table S5 has no cell of that shape; only the ordering is "
        "comparable, not the values. The baselines go through the same probes.", "",
        "| variant | paper (Table S5 cell) | linear-probe top-1 (test) | k-NN top-1 (test) | online top-1 (select) "
        "| seeds done | compute (core-minutes) |",
        "|---|---|---|---|---|---|---|",
    ]
    for representation, label in reports.BASELINES.items():
        linear = outcome.baselines.get(reports.baseline_key(representation, JUDGED_BY))
        knn = outcome.baselines.get(reports.baseline_key(representation, reports.KNN_TEST_TOP1))
        if linear is not None or knn is not None:
            lines.append(f"| {label} (baseline) | - | {_num(linear)} | {_num(knn)} | - | - | - |")
    for s in by_name.values():
        workers = outcome.configs[s.variant].resources.workers
        compute = sum(r.duration_s or 0 for r in s.runs) * workers / 60
        marker = "*" * (list(inputs.notes).index(s.variant) + 1) if s.variant in inputs.notes else ""
        lines.append(f"| {s.variant} | {s.paper.label() + marker if s.paper else '-'} | {s.cell(JUDGED_BY)} | "
                     f"{s.cell(reports.KNN_TEST_TOP1)} | {s.cell(reports.ONLINE_TOP1)} | "
                     f"{len(s.values(JUDGED_BY))}/{len(s.runs)} | {compute:.0f} |")
    notes = [f"{'*' * (i + 1)} {variant}: {note}" for i, (variant, note) in enumerate(inputs.notes.items())]
    return lines + (["", *notes] if notes else []) + _share_of_supervised(outcome, by_name) \
        + _baselines_on_knn(outcome, by_name)


def _share_of_supervised(outcome: StudyOutcome, by_name: dict[str, Summary]) -> list[str]:
    """Each variant's mean test linear probe as a share of the supervised ceiling's, when measured."""
    ceiling = outcome.baselines.get(reports.baseline_key("supervised", JUDGED_BY))
    if ceiling is None:
        return []
    shares = [f"{s.variant} {100 * s.mean() / ceiling:.1f}%" for s in by_name.values() if s.mean() is not None]
    return ["", f"As a share of the supervised ceiling's linear probe ({ceiling:.2f}): {', '.join(shares)}."]


def _baselines_on_knn(outcome: StudyOutcome, by_name: dict[str, Summary]) -> list[str]:
    """Where k-NN sets a baseline above other variants than the linear probe does."""
    lines = []
    for representation, label in reports.BASELINES.items():
        linear = outcome.baselines.get(reports.baseline_key(representation, JUDGED_BY))
        knn = outcome.baselines.get(reports.baseline_key(representation, reports.KNN_TEST_TOP1))
        if linear is None or knn is None:
            continue
        below = {metric: [s.variant for s in by_name.values() if (s.mean(metric) or 0) < score]
                 for metric, score in ((JUDGED_BY, linear), (reports.KNN_TEST_TOP1, knn))}
        if below[JUDGED_BY] != below[reports.KNN_TEST_TOP1]:
            lines.append(f"{label.capitalize()}: above {_names(below[reports.KNN_TEST_TOP1])} on k-NN ({knn:.2f}); "
                         f"above {_names(below[JUDGED_BY])} on the linear probe ({linear:.2f}). k-NN reads a "
                         "representation's distances as they are, a linear probe reweights them, so the two can "
                         "order representations differently; the claims are judged on the linear probe, and say "
                         "where k-NN reaches another verdict.")
    return ["", *lines] if lines else []


def _names(variants: list[str]) -> str:
    return ", ".join(variants) if variants else "no variant"


def _recipes(outcome: StudyOutcome, folder: str) -> list[str]:
    lines = ["", f"Each variant's recipe (full configs in `{folder}/main.json` and on every run in MLflow):", "",
             "| variant | method | projector | d | temperature | base lr (scaling rule) = peak lr at the batch | "
             "gather |", "|---|---|---|---|---|---|---|"]
    for name, cfg in outcome.configs.items():
        temperature = cfg.loss.params.get("temperature")
        lines.append(f"| {name} | {cfg.loss.method} | {cfg.model.projector} | {cfg.model.embedding_dim or '-'} | "
                     f"{_num(temperature, 3) if temperature is not None else '-'} | {cfg.optim.base_lr:.3g} "
                     f"({cfg.optim.lr_scaling}) = {cfg.effective_lr():.3g} | "
                     f"{cfg.loss.gather} |")
    return lines


def _claims(inputs: ReportInputs, by_name: dict[str, Summary], judged: list[Verdict]) -> list[str]:
    outcome = inputs.main
    methods = {name: cfg.loss.method for name, cfg in outcome.configs.items()}
    on_knn = judged_claims(by_name, inputs.parts, reports.KNN_TEST_TOP1)
    notes = projector_note(by_name) + recipe_order_notes(by_name, inputs.parts, inputs.part_rows)
    return ["", "## The paper's claims at this scale", "",
            f"Each claim about the main table is judged on the Welch 95% interval of the difference over seeds: "
            f"'helps' holds when it lies above 0, 'matches' when it lies within ±{MATCH_MARGIN:g} point (one run's "
            "test top-1 moves by 0.3-0.6 points between seeds here; the paper's 'on par' spans 0.21-0.76 points). "
            "The gather part and the figures' claims are judged on paired intervals: each seed, or each network, "
            "against itself.", "", *[f"- {line}" for line in claims(judged, outcome.analysis, methods, on_knn)],
            *[f"- {line}" for line in notes]]


def _verdicts(judged: list[Verdict], main_table: list[Verdict]) -> list[str]:
    return ["", "## What held, what did not, what we cannot tell at this scale", "", *verdict_summary(judged),
            f"- {holm_line(main_table)}"]


def holm_line(verdicts: list[Verdict]) -> str:
    """Which of the main table's decisive verdicts stay decisive as a family (Holm, 5%)."""
    survives = holm(verdicts)
    decisive = [v for v in verdicts if v.outcome is not Outcome.UNDECIDED]
    kept = [v.claim.split("**")[1] for v, ok in zip(verdicts, survives) if ok]
    lost = [v.claim.split("**")[1] for v, ok in zip(verdicts, survives)
            if not ok and v.outcome is not Outcome.UNDECIDED]
    return (f"Taken together (Holm's step-down over the {len(verdicts)} main-table claims, family-wise 5%): "
            f"{len(kept)} of the {len(decisive)} decisive verdicts stand"
            + (f"; these no longer do: {'; '.join(lost)}." if lost else ", every one."))


def _analyses(outcome: StudyOutcome, by_name: dict[str, Summary], folder: str) -> list[str]:
    analysis = outcome.analysis
    if analysis is None:
        return []
    seeds = ", ".join(f"{n} {seed}" for n, seed in zip(analysis.names, analysis.seeds))
    lines = ["", f"## Analyses (one seed of each variant: {seeds}; {analysis.metrics[0]['images']:.0f} test "
             f"images, spectra and RankMe on {analysis.metrics[0]['spectrum_images']:.0f} train images)", ""]
    if analysis.retrained_in:
        lines += [retrained_note(analysis, by_name), ""]
    lines += ["Also logged on each checkpoint's MLflow run (metrics `analysis/*`, files under `analysis/`).", ""]
    lines += [f"![{Path(f).stem}]({folder}/{f})" for f in analysis.figures if f.endswith(".png")]
    return lines + ["", f"All numbers: [{folder}/analysis.html]({folder}/analysis.html)."]


def _figure_parts(inputs: ReportInputs) -> list[str]:
    if not inputs.parts and not inputs.pending:
        return []
    lines = ["", "## Figure parts", "", "Each a grid campaign of the figure's space, one seed a cell "
             "(`dualtune study " + inputs.main.study + " --part NAME`)."]
    if inputs.pending:
        lines += ["", f"Not yet run, so neither shown nor judged: {', '.join(f'`{p}`' for p in inputs.pending)}."]
    for part in inputs.parts:
        lines += ["", *part_section(part, inputs.paper_cells.get(part.part))]
    return lines


def _every_rerun(outcome: StudyOutcome) -> list[str]:
    lines = ["", "## Every rerun", "", "| variant | seed | status | linear-probe | k-NN | online | time (s) |",
             "|---|---|---|---|---|---|---|"]
    return lines + [f"| {r.variant} | {r.seed} | {r.status} | {_num(r.linear_probe_test_top1)} | "
                    f"{_num(r.knn_test_top1)} | {_num(r.online_select_top1)} | {_num(r.duration_s, 0)} |"
                    for r in sorted(outcome.reruns, key=lambda r: (list(outcome.paper).index(r.variant), r.seed))]


def _rerun_it(outcome: StudyOutcome, folder: str) -> list[str]:
    return ["", "## Rerun it", "", f"`make reproduce` (`dualtune study {outcome.study} --part all`) runs every "
            f"part in order; `--part NAME` runs one (`{TUNE}`, `{MAIN}` or a figure part), saves its outcome in "
            f"`{folder}/NAME.json` and rewrites this page from the saved outcome of each part, so the "
            f"parts can run at different sittings; `dualtune study {outcome.study} --report-only` rewrites it "
            "from those alone. Every run is in MLflow (`dualtune ui`)."]


def retrained_note(analysis: StudyAnalysis, by_name: dict[str, Summary]) -> str:
    """Where retrained checkpoints came from, and each one's test linear probe beside the main
    table's run of the same variant and seed (equal when the retraining reproduced it)."""
    def table_score(name: str, seed: int) -> str:
        run = next((r for r in by_name[name].runs if r.seed == seed), None) if name in by_name else None
        return _num(run.linear_probe_test_top1 if run else None)

    pairs = ", ".join(f"{name} {_num(score)} ({table_score(name, seed)})" for name, seed, score
                      in zip(analysis.names, analysis.seeds, analysis.retrained_top1))
    return (f"The checkpoints analysed were retrained by `--part analyses` (campaign `{analysis.retrained_in}`) with "
            f"the main table's configs and seeds, its reruns' checkpoints being gone; each one's test linear probe, "
            f"with the main table's run of the same seed in brackets: {pairs}.")


def verdict_summary(judged: list[Verdict]) -> list[str]:
    """The judged claims grouped by outcome, one line each."""
    groups = {"Held": [Outcome.HELD], "Did not hold": [Outcome.FAILED, Outcome.REVERSED],
              "Cannot tell at this scale": [Outcome.UNDECIDED]}
    lines = []
    for label, outcomes in groups.items():
        names = [f"{v.claim.split('**')[1]}{' (reversed)' if v.outcome is Outcome.REVERSED else ''}"
                 for v in judged if v.outcome in outcomes]
        lines.append(f"- {label}: {'; '.join(names) if names else 'none'}.")
    return lines


def _workers(count: int) -> str:
    return "one worker" if count == 1 else f"{count} DDP workers"


def _subset(size: int | None) -> str:
    return f"a class-balanced {size:,}-image train subset" if size else "the whole train split"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def part_section(outcome: PartOutcome, paper: list[PaperCell | None] | None = None) -> list[str]:
    """A figure part as markdown: every cell (beside the paper's Table S5 cell, where ``paper``
    gives one per cell), and the best chosen on select per value of its first axis."""
    def score(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    paper_of = {id(cell): matched for cell, matched in zip(outcome.cells, paper)} if paper else {}
    paper_column = bool(paper_of)
    lines = [f"### Part `{outcome.part}`: {outcome.description}", "",
             f"Space `{outcome.space}`, campaign `{outcome.campaign}`, {len(outcome.cells)} cells, one seed each, "
             f"{outcome.wall_time_s / 60:.0f} minutes." + _crop_note(outcome.probe_crop), "",
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


def _crop_note(crop: float) -> str:
    if crop == 1:
        return ""
    return (f" Its probes and k-NN saw the centre {crop:g} crop, resized back: it ran before the study's probes saw "
            "the whole image and was not rerun since, so its numbers, raw pixels' included, compare within the part, "
            "not point for point with the main table's.")


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
