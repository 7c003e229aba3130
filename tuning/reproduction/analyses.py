"""The main part's analyses: one checkpoint per variant analysed side by side (spectra, negative
pairs, Table S4, Gram and covariance matrices, CKA), right after the reruns while their
checkpoints exist; the numbers are kept in the part's saved outcome, the figures beside it, so
the report can be rewritten later from those alone."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tuning.analysis.side_by_side import analyze_checkpoints
from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.tracking import log_checkpoint_metrics
from tuning.campaign.search.state import command_stores
from tuning.campaign.statuses import TrialStatus

ANALYSIS_IMAGES = 1024  # Table S4's N


@dataclass
class StudyAnalysis:
    """What the report reads of the analyses: each variant's numbers (in ``names`` order), their
    CKA matrix, the seed analysed of each and the figures drawn (file names in the results folder)."""
    names: list[str]
    metrics: list[dict[str, float]]
    cka: list[list[float]] | None
    seeds: list[int]
    figures: list[str]
    # Set when the part `analyses` retrained the checkpoints (the reruns' own are gone): its
    # campaign, and each retrained checkpoint's test linear probe, to set beside the table's row
    # of the same variant and seed.
    retrained_in: str | None = None
    retrained_top1: list[float | None] | None = None


def analyse_variants(reruns: list, runs: RunsFolder, campaign: str, out_dir: Path,
                     retrained: bool = False) -> StudyAnalysis | None:
    """Analyse each variant's lowest completed seed (``reruns``: RerunOutcome rows of ``campaign``,
    ``retrained`` when that campaign retrained them for the analyses alone), figures into
    ``out_dir``; the numbers and figures are logged on those checkpoints' MLflow runs."""
    chosen = {}
    for r in sorted(reruns, key=lambda r: r.seed):
        if r.status == TrialStatus.COMPLETED and r.checkpoint and r.variant not in chosen:
            chosen[r.variant] = r
    if not chosen:
        return None
    report = analyze_checkpoints([Path(r.checkpoint) for r in chosen.values()], list(chosen), runs.data_dir,
                                 ANALYSIS_IMAGES, out_dir)
    stores = command_stores(runs, None, None, campaign=campaign)
    for index, r in enumerate(chosen.values()):
        log_checkpoint_metrics(stores, Path(r.checkpoint), report.metrics_of(index), "analysis", r.run_id,
                               artifacts=report.files)
    return StudyAnalysis(names=list(chosen), metrics=[a.metrics for a in report.analyses],
                         cka=report.cka.tolist() if report.cka is not None else None,
                         seeds=[r.seed for r in chosen.values()], figures=[f.name for f in report.files],
                         retrained_in=campaign if retrained else None,
                         retrained_top1=[r.linear_probe_test_top1 for r in chosen.values()] if retrained else None)
