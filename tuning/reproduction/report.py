"""A study's report, written from the outcomes its parts saved in its results folder: our
numbers beside the paper's Table S5 cells, a verdict per claim of the paper measured on the
study's own runs, the analyses of one checkpoint per variant and a section per figure part."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.duality import duality_report
from models.projector import parse_projector_spec
from tuning.campaign.statuses import TrialStatus
from tuning.reproduction.analyses import StudyAnalysis
from tuning.reproduction.paper_table import PaperCell
from tuning.reproduction.parts import PartOutcome, part_section
from tuning.reproduction.reruns import CELL_AXES, MAIN, TUNE, RerunOutcome, StudyOutcome
from tuning.reproduction.verdicts import MATCH_MARGIN, Outcome, Verdict, helps, matches
from tuning.run import reports

JUDGED_BY = reports.LINEAR_PROBE_TEST_TOP1  # the offline probe: at CPU scale the online probe lags it (RESULTS.md)
CENTRED = 0.05  # |mean negative-pair cosine| below which a histogram counts as centred at 0
S4_FACTOR = 3.0  # Table S4: "within a factor of about 3" of the lower bound
S4_CHANCE = 0.05  # a variant is beyond chance when its ratio exceeds the Gaussian control's by more than this
GATHER = "loss.gather"  # the axis of the part that judges footnote 1's gather bug
_, PROJECTOR, DIM = CELL_AXES  # the axes that name a projector and its output dimension
LARS_NOTE = ("A constant gradient scale is mostly undone by LARS, whose per-layer trust ratio divides by the "
             "gradient's norm: only the biases and norm parameters (which LARS does not adapt) and the relative "
             "strength of the weight decay see the division, so a small effect under LARS is expected; the bug "
             "matters more with optimisers that use the gradient's scale, and at the paper's world size (8 GPUs) "
             "than at 2.")


@dataclass(frozen=True)
class Summary:
    """One variant's numbers over its seeds."""
    variant: str
    paper: PaperCell | None
    runs: list[RerunOutcome]

    def values(self, metric: str) -> list[float]:
        return [getattr(r, metric) for r in self.runs
                if r.status == TrialStatus.COMPLETED and getattr(r, metric) is not None]

    def mean(self, metric: str = JUDGED_BY) -> float | None:
        values = self.values(metric)
        return statistics.fmean(values) if values else None

    def std(self, metric: str = JUDGED_BY) -> float:
        values = self.values(metric)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def cell(self, metric: str) -> str:
        mean = self.mean(metric)
        if mean is None:
            return "-"
        values = self.values(metric)
        return f"{mean:.2f} ± {self.std(metric):.2f} ({min(values):.2f}-{max(values):.2f})"


def summaries(outcome: StudyOutcome) -> dict[str, Summary]:
    return {name: Summary(name, paper, sorted((r for r in outcome.reruns if r.variant == name), key=lambda r: r.seed))
            for name, paper in outcome.paper.items()}


def _scores(summary: Summary | None) -> list[float]:
    return summary.values(JUDGED_BY) if summary else []


def judged_claims(by_name: dict[str, Summary], parts: list[PartOutcome] = ()) -> list[Verdict]:
    """The paper's claims about the main table (and footnote 1's, from a part with a gather
    axis among ``parts``), each judged by a test that could have gone the other way."""
    orig, tuned, vicreg = by_name.get("SimCLR-Orig"), by_name.get("SimCLR-Tuned"), by_name.get("VICReg")
    family = [s for n, s in by_name.items() if n.startswith("VICReg")]
    judged = []
    if orig:
        judged += [helps(f"**Premise: {s.variant} beats SimCLR-Orig** (paper: 66.33 against 67.92-68.13; "
                         f"{s.variant} - SimCLR-Orig)", _scores(s), _scores(orig)) for s in family]
    if orig and tuned:
        judged.append(helps("**Tuning SimCLR helps** (paper: SimCLR-Orig 66.33 -> SimCLR-Tuned 68.68, +2.35; "
                            "SimCLR-Tuned - SimCLR-Orig)", _scores(tuned), _scores(orig)))
    if tuned:  # Orig's other forms: its own small-batch lr rule, its settings at the tuned projector and d
        judged += [helps(f"**Tuning SimCLR helps over {s.variant}** (SimCLR-Tuned - {s.variant})", _scores(tuned),
                         _scores(s)) for n, s in by_name.items() if n.startswith("SimCLR-Orig-")]
    if tuned and vicreg:
        judged.append(matches("**Tuned SimCLR matches VICReg** (paper: 68.68 against 68.13; SimCLR-Tuned - VICReg)",
                              _scores(tuned), _scores(vicreg)))
    judged += [matches(f"**The dimension-contrastive variants are on par: {a.variant} and {b.variant}** (paper: "
                       f"67.92-68.13 at their best cells; {a.variant} - {b.variant})", _scores(a), _scores(b))
               for i, a in enumerate(family) for b in family[i + 1:]]
    gather = next((part for part in parts if GATHER in part.axes), None)
    if gather is not None:
        judged.append(helps(f"**The footnote-1 gather bug hurts** (paper: 'a significant impact', no number; part "
                            f"`{gather.part}`, summed - divided gather)", _gather_scores(gather, "summed"),
                            _gather_scores(gather, "divided")))
    for claim in CELL_CLAIMS:
        judged += [verdict for part in parts for verdict in claim.judge(part)]
    return judged


@dataclass(frozen=True)
class CellClaim:
    """A figure's claim that SimCLR's variants along one axis of a figure part perform as the
    reference value does, judged paired over the part's other axes (projector x d): each pair is
    the same network but for that axis (``network_of``: a network named twice on the grid counts
    once). A part whose axis holds the reference and a variant is judged."""
    figure: str
    axis: str
    reference: str
    paper: dict[str, str]  # each variant judged -> what the paper says of it

    def judge(self, part: PartOutcome) -> list[Verdict]:
        if self.axis not in part.axes:
            return []
        others = [axis for axis in part.axes if axis != self.axis]
        scores = {(c.values[self.axis], *network_of(c.values, others)): c.linear_probe_test_top1
                  for c in part.cells if c.status == TrialStatus.COMPLETED and c.linear_probe_test_top1 is not None}
        values = {c.values[self.axis] for c in part.cells}
        verdicts = []
        for variant in (v for v in self.paper if {v, self.reference} <= values):
            shared = sorted(key[1:] for key in scores if key[0] == variant and (self.reference, *key[1:]) in scores)
            verdicts.append(matches(
                f"**{self.figure}: SimCLR with {variant} matches SimCLR** (paper: {self.paper[variant]}; part "
                f"`{part.part}`, {variant} - {self.reference}, each network against the same {' x '.join(others)} one)",
                [scores[(variant, *k)] for k in shared], [scores[(self.reference, *k)] for k in shared], paired=True))
        return verdicts


def network_of(values: dict[str, Any], axes: list[str]) -> tuple:
    """A cell's place on ``axes``, with its projector and d read as the widths they build, so
    that one network named two ways (d-d-d at d = 128 is 128-128-d at d = 128) is one cell."""
    shape = [str(values[a]) for a in axes if a not in (PROJECTOR, DIM)]
    if PROJECTOR in axes and DIM in axes:
        shape.append("-".join(map(str, parse_projector_spec(values[PROJECTOR], int(values[DIM])))))
    return tuple(shape)


CELL_CLAIMS = (
    CellClaim("Fig. 2", "loss.params.normalization", "embedding", dict.fromkeys(
        ("centering", "standardization"), "the normalisations 'do not impact performance at all', the same peak")),
    CellClaim("Fig. S3", "loss.method", "simclr", {"simclr-sq": "SimCLR-sq 'did not impact performance'",
                                                   "simclr-abs": "SimCLR-abs 68.71 against SimCLR's 68.61"}),
)


def _gather_scores(part: PartOutcome, gradient: str) -> list[float]:
    """The test linear probe of ``part``'s completed cells with ``loss.gather`` = ``gradient``, one a seed."""
    return [c.linear_probe_test_top1 for c in part.cells if c.values[GATHER] == gradient
            and c.status == TrialStatus.COMPLETED and c.linear_probe_test_top1 is not None]


def claims(judged: list[Verdict], analysis: StudyAnalysis | None, methods: dict[str, str]) -> list[str]:
    """One sentence per claim of the paper: the judged ones (``judged_claims``), then the analyses'
    (``methods``: each variant's loss)."""
    lines = [verdict.sentence() for verdict in judged]
    if any("gather" in verdict.claim for verdict in judged):
        lines.append(LARS_NOTE)
    if analysis is not None:
        lines += _analysis_claims(analysis, methods)
    return lines


def gaussian_control(images: int, dim: int, seed: int = 0) -> float:
    """Table S4's statistic (column-normalised sum of row norms^4 over its lower bound N^2/M)
    for random Gaussian embeddings of the same shape: how close chance alone sits to the bound."""
    generator = torch.Generator().manual_seed(seed)
    measured = duality_report(torch.randn(images, dim, generator=generator, dtype=torch.float64))
    return measured["colnorm_sum_row_norm4"] / measured["colnorm_lower_bound"]


def _analysis_claims(analysis: StudyAnalysis, methods: dict[str, str]) -> list[str]:
    names, metrics = analysis.names, analysis.metrics
    lines = []
    if analysis.cka is not None:
        pairs = {(names[i], names[j]): analysis.cka[i][j] for i in range(len(names))
                 for j in range(i + 1, len(names))}
        across = {pair: value for pair, value in pairs.items() if methods[pair[0]] != methods[pair[1]]}
        within = {pair: value for pair, value in pairs.items() if pair not in across}
        pair = pairs.get(("SimCLR-Tuned", "VICReg"))
        lines.append(
            "**The two families learn similar representations** (Fig. S2: linear CKA 0.87-0.91 between methods, "
            "0.89 VICReg vs SimCLR): here "
            + (f"{min(across.values()):.2f}-{max(across.values()):.2f} between variants of different methods"
               if across else "no pair of different methods")
            + (f", {pair:.2f} SimCLR-Tuned vs VICReg" if pair is not None else "")
            + ("; pairs of the same method, left out of that range (a same-seed twin such as a gather ablation "
               "sits near 1 by construction): " + ", ".join(f"{a} vs {b} {v:.2f}" for (a, b), v in within.items())
               if within else "") + ".")
    lines.append("**Spectra differ** (Fig. S5): singular values of the embeddings' covariance above 1e-5 of the "
                 f"largest, of d (RankMe in brackets), on {metrics[0]['spectrum_images']:.0f} train images each "
                 "variant fitted on: " + ", ".join(
        f"{n} {m['embedding_spectrum_rank']:.0f}/{m['embedding_dim']:.0f} ({m['embedding_rankme']:.0f})"
        for n, m in zip(names, metrics)) + ".")
    centred = [n for n, m in zip(names, metrics) if abs(m["negative_cosine_mean"]) < CENTRED]
    lines.append("**Negative pairs are centred near 0 with different spreads** (Fig. S4): mean ± std of the "
                 "negative-pair cosine: " + ", ".join(f"{n} {m['negative_cosine_mean']:.3f} ± "
                                                      f"{m['negative_cosine_std']:.3f}" for n, m in zip(names, metrics))
                 + f"; centred (|mean| < {CENTRED}) for {', '.join(centred) or 'none'}: "
                 + ("held for every variant." if len(centred) == len(names) else "held for those only."))
    ratios = [m["table_s4_colnorm_sum_row_norm4"] / m["table_s4_colnorm_lower_bound"] for m in metrics]
    images = int(metrics[0]["table_s4_N"])
    controls = {int(m["embedding_dim"]): gaussian_control(images, int(m["embedding_dim"])) for m in metrics}
    near = max(ratios) <= S4_FACTOR
    beyond_chance = min(ratios) > max(controls.values()) * (1 + S4_CHANCE)
    lines.append(
        f"**Norm sums sit near Lemma 3.4's lower bound** (Table S4: within a factor of about {S4_FACTOR:g}; N = "
        f"{images} test images): the column-normalised sum of row norms^4 is {min(ratios):.2f}-{max(ratios):.2f} "
        f"times its lower bound N^2/M; the control, random Gaussian embeddings of the same shape, sits at "
        + ", ".join(f"{v:.3f} (d = {d})" for d, v in sorted(controls.items()))
        + (f": **held**, and beyond chance (every variant more than {S4_CHANCE:.0%} above the control), so the "
           "closeness is a property of these embeddings that chance does not share." if near and beyond_chance else
           ": **held, but not beyond chance**: random embeddings sit as close to the bound, so at this scale the "
           "claim cannot tell trained embeddings from noise." if near else ": **did not hold**."))
    return lines


def results_folder(report: Path) -> Path:
    """A study's results folder: beside its report, named after it (docs/reproduction/ for
    docs/reproduction.md); it holds each part's saved outcome and the analyses' figures."""
    return Path(report).parent / Path(report).stem


def write_report(outcome: StudyOutcome, path: Path, parts: list[PartOutcome] = (), pending: list[str] = (),
                 paper_cells: dict[str, list[PaperCell | None]] | None = None) -> Path:
    """``path`` (markdown) with the main part's tables, verdicts and analyses (figures in
    ``results_folder(path)``), a section for each figure part in ``parts`` and the names of
    those not yet run (``pending``), each set beside the paper's cells where ``paper_cells``
    (part -> one per cell) gives them."""
    path = Path(path)
    figures_dir = results_folder(path)
    analysis = outcome.analysis
    by_name = summaries(outcome)
    config = next(iter(outcome.configs.values()))
    data = config.data
    lines = [
        f"# Reproduction: {outcome.description}", "",
        f"Written by `dualtune study {outcome.study}` (`make reproduce`) from the outcomes its parts saved in "
        f"`{figures_dir.name}/`. The main part (the reruns campaign `{outcome.reruns_campaign}` and the analyses) "
        f"started {outcome.started} and took {outcome.wall_time_s / 60:.0f} minutes on {outcome.machine}; the "
        f"tuning arms took {sum(a.wall_time_s for a in outcome.arms) / 60:.0f} minutes; each figure part gives its "
        f"own. Report written {time.strftime('%Y-%m-%d %H:%M %Z')}.", "",
        "## What ran", "",
        f"- Data: `{data.train}`, {_subset(data.train_subset)}, of which {data.select_per_class} images a class are "
        f"held out as the select split that every choice is scored on; test: `{data.test}` (for bundled data, its "
        f"held-out split: Fashion-MNIST's official 10,000-image test set), where every number below is scored; "
        f"{data.resolution} px, global batch {data.batch_size}.",
        f"- Backbone {config.model.backbone}, {config.schedule.epochs} epochs, LARS, warm-up + cosine.",
        *[f"- Tuning arm {a.arm}: campaign `{a.campaign}`, {a.trials} trials ({a.completed} to the end), "
          f"{a.epochs} epochs trained, {a.wall_time_s / 60:.0f} minutes; its best config, chosen on select, is "
          f"the base `tuned:{a.arm}`." for a in outcome.arms],
        "- The arms share one budget (trials, sampler, scheduler, rung metric and scale are the study's): none is "
        "tuned harder than another." if len(outcome.arms) > 1 else "- One tuning arm.",
        f"- Each variant rerun with seeds {outcome.seeds} in the campaign `{outcome.reruns_campaign}`, every rerun "
        f"on {_workers(config.resources.workers)}.",
        f"- Judged by the offline linear probe ({JUDGED_BY}: its lr chosen on select, scored on "
        "test); at this scale the online probe lags it (benchmarks/RESULTS.md), so it is shown "
        "but not judged by.", "",
        "## Main table", "",
        "Mean ± standard deviation over seeds (min-max), on test. The paper's column is the Table S5 cell "
        "(ImageNet, ResNet-50, 100 epochs, online top-1) of the variant's row at its projector and d scaled up by "
        f"{outcome.paper_scale}x, or '-' where Table S5 has no cell of that shape; only the ordering is "
        "comparable, not the values. The baselines go through the same probes.", "",
        "| variant | paper (Table S5 cell) | linear-probe top-1 (test) | k-NN top-1 (test) | online top-1 (select) "
        "| seeds done | compute (core-minutes) |",
        "|---|---|---|---|---|---|---|",
    ]
    for representation, label in (("raw_pixels", "raw pixels (baseline)"), ("untrained", "untrained network")):
        linear = outcome.baselines.get(reports.baseline_key(representation, JUDGED_BY))
        knn = outcome.baselines.get(reports.baseline_key(representation, reports.KNN_TEST_TOP1))
        if linear is not None or knn is not None:
            lines.append(f"| {label} | - | {_num(linear)} | {_num(knn)} | - | - | - |")
    for s in by_name.values():
        workers = outcome.configs[s.variant].resources.workers
        compute = sum(r.duration_s or 0 for r in s.runs) * workers / 60
        lines.append(f"| {s.variant} | {s.paper.label() if s.paper else '-'} | {s.cell(JUDGED_BY)} | "
                     f"{s.cell(reports.KNN_TEST_TOP1)} | {s.cell(reports.ONLINE_TOP1)} | "
                     f"{len(s.values(JUDGED_BY))}/{len(s.runs)} | {compute:.0f} |")
    lines += ["", f"Each variant's recipe (full configs in `{figures_dir.name}/main.json` and on every run in "
              "MLflow):", "",
              "| variant | method | projector | d | temperature | base lr (scaling rule) = peak lr at the batch | "
              "gather |", "|---|---|---|---|---|---|---|"]
    for name, cfg in outcome.configs.items():
        temperature = cfg.loss.params.get("temperature")
        lines.append(f"| {name} | {cfg.loss.method} | {cfg.model.projector} | {cfg.model.embedding_dim or '-'} | "
                     f"{_num(temperature, 3) if temperature is not None else '-'} | {cfg.optim.base_lr:.3g} "
                     f"({cfg.optim.lr_scaling}) = {cfg.effective_lr():.3g} | "
                     f"{cfg.loss.gather} |")
    lines += ["", "## The paper's claims at this scale", "",
              f"Each claim about the main table is judged on the Welch 95% interval of the difference over seeds: "
              f"'helps' holds when it lies above 0, 'matches' when it lies within ±{MATCH_MARGIN:g} point (one run's "
              "test top-1 moves by 0.3-0.6 points between seeds here; the paper's 'on par' spans 0.21-0.76 points).",
              ""]
    methods = {name: cfg.loss.method for name, cfg in outcome.configs.items()}
    judged = judged_claims(by_name, parts)
    lines += [f"- {line}" for line in claims(judged, analysis, methods)]
    lines += ["", "## What held, what did not, what we cannot tell at this scale", "", *verdict_summary(judged)]
    if analysis is not None:
        seeds = ", ".join(f"{n} {seed}" for n, seed in zip(analysis.names, analysis.seeds))
        lines += ["", f"## Analyses (one seed of each variant: {seeds}; {analysis.metrics[0]['images']:.0f} test "
                  f"images, spectra and RankMe on {analysis.metrics[0]['spectrum_images']:.0f} train images)", ""]
        if analysis.retrained_in:
            lines += [retrained_note(analysis, by_name), ""]
        lines += ["Also logged on each checkpoint's MLflow run (metrics `analysis/*`, files under `analysis/`).", ""]
        lines += [f"![{Path(f).stem}]({figures_dir.name}/{f})" for f in analysis.figures if f.endswith(".png")]
        lines += ["", f"All numbers: [{figures_dir.name}/analysis.html]({figures_dir.name}/analysis.html)."]
    if parts or pending:
        lines += ["", "## Figure parts", "", "Each a grid campaign of the figure's space, one seed a cell "
                  "(`dualtune study " + outcome.study + " --part NAME`)."]
        if pending:
            lines += ["", f"Not yet run, so neither shown nor judged: {', '.join(f'`{p}`' for p in pending)}."]
        for part in parts:
            lines += ["", *part_section(part, (paper_cells or {}).get(part.part))]
    lines += ["", "## Every rerun", "", "| variant | seed | status | linear-probe | k-NN | online | time (s) |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.variant} | {r.seed} | {r.status} | {_num(r.linear_probe_test_top1)} | {_num(r.knn_test_top1)} | "
              f"{_num(r.online_select_top1)} | {_num(r.duration_s, 0)} |"
              for r in sorted(outcome.reruns, key=lambda r: (list(outcome.paper).index(r.variant), r.seed))]
    lines += ["", "## Rerun it", "", f"`make reproduce` (`dualtune study {outcome.study} --part all`) runs every "
              f"part in order; `--part NAME` runs one (`{TUNE}`, `{MAIN}` or a figure part), saves its outcome in "
              f"`{figures_dir.name}/NAME.json` and rewrites this page from the saved outcome of each part, so the "
              f"parts can run at different sittings; `dualtune study {outcome.study} --report-only` rewrites it "
              "from those alone. Every run is in MLflow (`dualtune ui`)."]
    path.write_text("\n".join(lines) + "\n")
    return path


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
