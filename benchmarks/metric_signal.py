"""Which rung metric ranks trials as their final result will?

One campaign of the ``simclr_fmnist`` space's parameters (SimCLR: temperature, base lr,
projector and d) on the ``fmnist-full`` benchmark's base runs every trial to the end (random
sampler, FIFO), so each trial has its final offline linear-probe top-1 on test. At every epoch
each trial reports the candidate rung metrics, all scored on select (held out of train): the
online probe; the online probe behind a non-affine BatchNorm at 10x its lr; k-NN and a closed-
form ridge probe on the frozen backbone's features (a fixed 10,000-image sample of fit as the
bank); the epoch's training-set online number; and RankMe of the bank's frozen features (label-
free; one method here, so comparable). For each rung (epoch) and candidate: Spearman's rank
correlation with the final test linear probe over the completed trials, with a 95% bootstrap
interval (trials resampled with replacement, 4,000 times, percentile interval), and its cost as
a share of the epoch's wall time (the online probes: scoring select; the frozen candidates:
extracting the bank's and select's features and fitting all three; the training-set number and
the online probes' own training steps come with the epoch). Scale: to fit the time here, a
20,000-image class-balanced subset of Fashion-MNIST's train split (200 images a class held out
as select), 4 epochs a trial. The campaign's best trial by the select linear probe is written
to ``benchmarks/results/metric_signal_best.json`` for the learning curves.
"""
from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.goals import verdict
from tuning.campaign.records.results import TrialRecord, read_trial_records
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import load_space
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports

TITLE = "Rung metrics: which early number ranks trials as the final test linear probe does (Fashion-MNIST)"
SPACE, BASE, TRAIN_SUBSET, SELECT_PER_CLASS, EPOCHS = "simclr_fmnist", "fmnist-full", 20_000, 200, 4
BEST = Path(__file__).parent / "results" / "metric_signal_best.json"
BOOTSTRAP = 4000
GOAL_RHO, GOAL_LOW, GOAL_COST = 0.7, 0.4, 0.10


@dataclass(frozen=True)
class Candidate:
    """A rung metric: its report key, how it reads in the table, and the report key of its cost
    (None: it comes with the epoch at no extra cost)."""
    key: str
    label: str
    cost_key: str | None


CANDIDATES = (
    Candidate(reports.ONLINE_TOP1, "online probe", "select_time_s"),
    Candidate(reports.online_top(1, "online_bn"), "online probe, non-affine BN, 10x lr", "select_time_s"),
    Candidate(reports.FROZEN_KNN_SELECT_TOP1, "k-NN on frozen features", "rung_probes_time_s"),
    Candidate(reports.FROZEN_RIDGE_SELECT_TOP1, "ridge probe on frozen features", "rung_probes_time_s"),
    Candidate(reports.online_top(1, split="train"), "training-set online number (train)", None),
    Candidate(reports.FROZEN_RANKME, "RankMe (label-free)", "rung_probes_time_s"),
)


def run(trials: int = 24, seed: int = 0) -> dict:
    base = load_space(SPACE)
    space = type(base).model_validate({
        **base.model_dump(), "base": BASE, "name": "signal", "seed": seed, "num_samples": trials, "sampler": "random",
        "scheduler": {"type": "fifo"}, "max_concurrent_trials": 2,
        "overrides": {**base.overrides, "data.train_subset": TRAIN_SUBSET, "data.select_per_class": SELECT_PER_CLASS,
                      "schedule.epochs": EPOCHS, "resources.workers": 1, "resources.torch_threads": 1}})
    space.check()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_campaign(space, CampaignOptions(runs_dir=Path(tmp), num_cpus=3), name="signal")
        records = read_trial_records(f"{result.storage}/{result.name}")
    completed = [r for r in records if r.status == TrialStatus.COMPLETED]
    best = max(completed, key=lambda r: r.last[reports.LINEAR_PROBE_SELECT_TOP1])
    BEST.parent.mkdir(exist_ok=True)
    BEST.write_text(json.dumps({"trial_id": best.trial_id, "params": {p: best.config[p] for p in space.params},
                                reports.LINEAR_PROBE_SELECT_TOP1: best.last[reports.LINEAR_PROBE_SELECT_TOP1]}))
    return {"records": completed, "rungs": list(range(1, EPOCHS)), "trials": len(records)}


def _at_epoch(record: TrialRecord, epoch: int) -> dict:
    return next(r for r in record.results if r.get(reports.EPOCH) == epoch)


def spearman(xs, ys) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


def bootstrap_interval(xs: list[float], ys: list[float], draws: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """The 95% percentile interval of Spearman's rho over ``draws`` resamplings of the pairs."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(xs), np.asarray(ys)
    rhos = []
    for _ in range(draws):
        pick = rng.integers(0, len(x), len(x))
        if len(set(x[pick])) > 1 and len(set(y[pick])) > 1:
            rhos.append(spearman(x[pick], y[pick]))
    low, high = np.percentile(rhos, [2.5, 97.5])
    return float(low), float(high)


def cost_share(records: list[TrialRecord], epoch: int, candidate: Candidate) -> float:
    """The candidate's mean cost over trials as a share of the epoch's wall time."""
    if candidate.cost_key is None:
        return 0.0
    return statistics.mean(_at_epoch(r, epoch)[candidate.cost_key] / _at_epoch(r, epoch)["epoch_time_s"]
                           for r in records)


def report(outcome: dict) -> list[str]:
    records, rungs = outcome["records"], outcome["rungs"]
    final = [record.last[reports.LINEAR_PROBE_TEST_TOP1] for record in records]
    lines = [f"{len(records)} of {outcome['trials']} trials completed; final test linear-probe top-1 from "
             f"{min(final):.2f} to {max(final):.2f} (a span of {max(final) - min(final):.2f} points).", "",
             "| epoch (rung) | candidate (on select unless said) | Spearman with the final test linear probe "
             "| 95% bootstrap interval | cost, share of the epoch |", "|---|---|---|---|---|"]
    best = None
    for rung in rungs:
        for candidate in CANDIDATES:
            xs = [_at_epoch(r, rung)[candidate.key] for r in records]
            rho, (low, high) = spearman(xs, final), bootstrap_interval(xs, final)
            cost = cost_share(records, rung, candidate)
            lines.append(f"| {rung} | {candidate.label} (`{candidate.key}`) | **{rho:.3f}** | {low:.2f} to {high:.2f} "
                         f"| {100 * cost:.1f}% |")
            if rung == rungs[0] and (best is None or rho > best[1]):
                best = (candidate, rho, low, cost)
    candidate, rho, low, cost = best
    met = rho >= GOAL_RHO and low > GOAL_LOW and cost < GOAL_COST
    lines += ["", f"At the first rung the best-ranking candidate is the {candidate.label} (`{candidate.key}`): rho "
              f"{rho:.3f}, interval from {low:.2f}, {100 * cost:.1f}% of an epoch. Goal (rho >= {GOAL_RHO}, "
              f"interval above {GOAL_LOW}, under {100 * GOAL_COST:.0f}% of an epoch): "
              f"{verdict(met)}."]
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
