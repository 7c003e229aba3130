"""Does the number the search optimises predict the result it is after?

One campaign of the ``simclr_fmnist`` space (temperature, base lr, projector and d; 8
epochs on a 6,000-image class-balanced Fashion-MNIST subset; val = the official 10,000-image
test split) runs every trial to the end (random sampler, FIFO), so each trial has its
final offline linear-probe top-1 (chosen on a held-out slice of the train split, scored on
val).  At each of the rungs an ASHA scheduler of that space would stop trials at (epochs 2
and 4), and at the end, it ranks the trials by the validation online probe
(``online_select_top1``) and by the old training-set number (``online_train_top1``), and reports
Spearman's rank correlation of each with the final offline probe.  The last row gives the
gap between the final val online top-1 and the offline probe.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from tuning.campaign.records.results import TrialRecord, read_trial_records
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import load_space
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports

TITLE = "Signal: the searched metric against the final offline probe (Fashion-MNIST)"
METRICS = (reports.ONLINE_TOP1, reports.online_top(1, split="train"))


def run(trials: int = 14, seed: int = 0) -> dict:
    base = load_space("simclr_fmnist")
    space = type(base).model_validate({**base.model_dump(), "name": "signal", "seed": seed, "num_samples": trials,
                                       "sampler": "random", "scheduler": {"type": "fifo"}})
    space.check()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_campaign(space, CampaignOptions(runs_dir=Path(tmp), num_cpus=3), name="signal")
        records = read_trial_records(f"{result.storage}/{result.name}")
    epochs = space.base_config().schedule.epochs
    rungs = [r for r in (2, 4) if r < epochs] + [epochs]
    completed = [r for r in records if r.status == TrialStatus.COMPLETED]
    return {"records": completed, "rungs": rungs, "trials": len(records)}


def _at_epoch(record: TrialRecord, epoch: int) -> dict:
    return next(r for r in record.results if r.get("epoch") == epoch)


def spearman(xs: list[float], ys: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


def report(outcome: dict) -> list[str]:
    records, rungs = outcome["records"], outcome["rungs"]
    final = [record.last[reports.LINEAR_PROBE_TEST_TOP1] for record in records]
    lines = [f"{len(records)} of {outcome['trials']} trials completed; offline linear-probe top-1 from "
             f"{min(final):.2f} to {max(final):.2f}.", "",
             "| epoch (rung) | Spearman: val `online_select_top1` vs final offline probe | Spearman: training-set "
             "`online_train_top1` vs final offline probe |", "|---|---|---|"]
    for rung in rungs:
        cells = [spearman([_at_epoch(r, rung)[m] for r in records], final) for m in METRICS]
        lines.append(f"| {rung} | **{cells[0]:.3f}** | {cells[1]:.3f} |")
    gaps = [r.last[reports.ONLINE_TOP1] - r.last[reports.LINEAR_PROBE_TEST_TOP1] for r in records]
    lines += ["", f"Final val online top-1 minus offline probe top-1: mean {statistics.mean(gaps):+.2f} points, "
              f"from {min(gaps):+.2f} to {max(gaps):+.2f} (the paper: within about 0.25 at ImageNet scale)."]
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
