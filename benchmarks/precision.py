"""bf16 autocast + channels_last against fp32 on this CPU: training speed and final accuracy.

The ``fmnist-simclr`` preset (small_cnn, 28 px, the class-balanced 6,000-image Fashion-MNIST
train subset, 8 epochs; the offline linear probe and k-NN scored on the official 10,000-image
test split), run with three seeds in each precision: fp32 with contiguous tensors, and bf16
autocast with channels_last.  Each run is one process with one torch thread, two runs at a
time (one per core).  Speed is training images/s over epochs 2 to 8 (the first pays FFCV's
compilation), as a ratio to fp32 of the same seed; accuracy is the mean over seeds with a 95%
t-interval, and the bf16 - fp32 difference with a Welch 95% interval.  This is the evidence
``resources.precision: auto`` needs before it may pick bf16 on CPUs with native bf16.
"""
from __future__ import annotations

import multiprocessing
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tuning.reproduction.verdicts import seed_interval, welch_difference

TITLE = "Precision on the CPU: bf16 + channels_last against fp32 (fmnist-simclr, 3 seeds)"
PRECISIONS = {"fp32": {"resources.precision": "fp32", "model.channels_last": False},
              "bf16": {"resources.precision": "bf16", "model.channels_last": True}}
SCORES = ("linear_probe_test_top1", "knn_test_top1")


def pretrain_once(precision: str, seed: int, data_dir: str) -> dict:
    """One pretraining of the preset in this process; its final scores and training speed."""
    from benchmarks.local_runs import preset_config, pretrain_locally

    session = pretrain_locally(preset_config("fmnist-simclr", {**PRECISIONS[precision], "seed": seed}), data_dir)
    last = session.reports[-1]
    return {"precision": precision, "seed": seed, **{s: last[s] for s in SCORES},
            "images_per_s": statistics.mean(r["images_per_s"] for r in session.reports[1:])}


def run(seeds=(0, 1, 2)) -> list[dict]:
    """Every (precision, seed) run, two at a time in fresh processes, on data written once."""
    from tuning.campaign.space import load_preset
    from tuning.run.data import prepare_data

    with tempfile.TemporaryDirectory() as tmp:
        prepare_data(load_preset("fmnist-simclr"), Path(tmp))  # written here, before two runs could race to it
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = [pool.submit(pretrain_once, precision, seed, tmp) for seed in seeds for precision in PRECISIONS]
            return [job.result() for job in jobs]


def report(rows: list[dict]) -> list[str]:
    by = {p: [r for r in rows if r["precision"] == p] for p in PRECISIONS}
    lines = ["| precision | seeds | linear probe (test) | k-NN (test) | train images/s |", "|---|---|---|---|---|"]
    for precision, runs in by.items():
        cells = []
        for score in SCORES:
            mean, half = seed_interval([r[score] for r in runs])
            cells.append(f"{mean:.2f} ± {half:.2f}")
        lines.append(f"| {precision} | {len(runs)} | {cells[0]} | {cells[1]} | "
                     f"{statistics.mean(r['images_per_s'] for r in runs):.0f} |")
    speed = [b["images_per_s"] / f["images_per_s"] for f, b in zip(by["fp32"], by["bf16"])]
    lines += ["", f"Speed, bf16 + channels_last over fp32 (same seed): {min(speed):.2f}x to {max(speed):.2f}x."]
    for score in SCORES:
        measured = welch_difference([r[score] for r in by["bf16"]], [r[score] for r in by["fp32"]])
        difference, low, high = measured.mean, measured.low, measured.high
        spread = max(statistics.stdev(r[score] for r in runs) for runs in by.values())
        verdict = ("agrees within the seed spread" if abs(difference) <= spread
                   else "differs by more than the seed spread")
        lines.append(f"{score}: bf16 - fp32 = {difference:+.2f} points (Welch 95% interval {low:+.2f} to {high:+.2f}; "
                     f"largest seed std {spread:.2f}): {verdict}"
                     f"{'' if low <= 0 <= high else ', and the interval excludes 0'}.")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
