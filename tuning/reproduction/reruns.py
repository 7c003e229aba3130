"""A study's runners: each part of a study as the campaigns it runs (the tuning arms, the
variants' reruns and their analyses, a figure's grid), its outcome saved in the results folder.
What a part builds on is checked and passed in by tuning.reproduction.study, which runs them in
order."""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tuning.campaign.paths import timestamped
from tuning.campaign.records.results import CampaignResult
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import VARIANT
from tuning.campaign.statuses import TrialStatus
from tuning.config import load_config
from tuning.errors import SearchSpaceError
from tuning.reproduction.analyses import analyse_variants
from tuning.reproduction.outcomes import (
    ANALYSES,
    MAIN,
    TUNE,
    ArmOutcome,
    CellOutcome,
    PartOutcome,
    RerunOutcome,
    StudyOutcome,
    TuneOutcome,
    outcome_path,
)

if TYPE_CHECKING:
    from tuning.reproduction.study import Study


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


def run_main(study: Study, tuning: TuneOutcome | None, options: CampaignOptions, results: Path, *,
             announce=print) -> StudyOutcome:
    """The main part: every variant rerun with every seed (its tuned bases from the tune part's
    outcome ``tuning``), then one checkpoint per variant analysed, figures into ``results``;
    saved as main.json there."""
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


def run_analyses(study: Study, outcome: StudyOutcome, tuning: TuneOutcome | None, options: CampaignOptions,
                 results: Path, *, announce=print) -> StudyOutcome:
    """The analyses part: the main part's analyses (``outcome``) again without its reruns (whose
    checkpoints are gone once it ends): each variant's analysed seed (the lowest) retrained with
    the main part's config, analysed, and saved in place of main.json's analyses; its table is
    unchanged."""
    seed = min(study.seeds)
    name = timestamped(f"{study.name}-{ANALYSES}")
    announce(f"study {study.name}: retraining seed {seed} of {len(study.variants)} variants to analyse them")
    result = run_campaign(study.reruns_space(tuning.tuned if tuning else {}, seeds=[seed]), options, name=name)
    retrained = sorted(_outcomes(result), key=lambda r: list(study.variants).index(r.variant))
    outcome.analysis = analyse_variants(retrained, options.runs, result.name, results, retrained=True)
    outcome.save(outcome_path(results, MAIN))
    return outcome


def run_part(study: Study, part: str, options: CampaignOptions, results: Path, *, announce=print) -> PartOutcome:
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
                          baselines=result.baselines, probe_crop=space.base_config().data.center_crop_ratio)
    outcome.save(outcome_path(results, part))
    return outcome


def _outcomes(result: CampaignResult) -> list[RerunOutcome]:
    return [RerunOutcome(variant=row.sampled[VARIANT], seed=int(row.sampled["seed"]), status=row.status,
                         online_select_top1=row.online_select_top1,
                         linear_probe_test_top1=row.linear_probe_test_top1, knn_test_top1=row.knn_test_top1,
                         checkpoint=row.checkpoint, run_id=row.run_id, duration_s=row.duration_s)
            for row in result.rows]
