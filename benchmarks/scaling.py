"""DDP scaling on the CPU: the same pretraining (digits, small CNN, global batch 256, SimCLR
with the gathered global batch) on one core and on two, in one process.

Baseline: one worker with one thread.  Against it: one worker with two threads (torch's
intra-op parallelism) and two gloo DDP workers with one thread each (a Ray Train worker
group).  Throughput is the mean images/s of epochs 2-4 (epoch 1 pays FFCV's compilation);
efficiency = throughput / (cores x baseline throughput).
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from tuning.campaign.records.results import read_trial_records
from tuning.campaign.search.driver import CampaignOptions, run_pretrain

TITLE = "DDP scaling on the CPU: 1 vs 2 workers, same global batch"
SETUPS = (("1 worker x 1 thread (baseline)", 1, 1), ("1 worker x 2 threads", 1, 2), ("2 DDP workers x 1 thread", 2, 1))


def measure(workers: int, threads: int, runs_dir: Path, epochs: int = 4) -> float:
    options = CampaignOptions(runs_dir=runs_dir, num_cpus=3)
    result = run_pretrain("digits-simclr", options, name=f"scaling-{workers}x{threads}", overrides={
        "resources.workers": workers, "resources.torch_threads": threads, "schedule.epochs": epochs,
        "probe.offline_epochs": 1, "probe.knn": False})
    (record,) = read_trial_records(f"{result.storage}/{result.name}")
    return statistics.mean(r["images_per_s"] for r in record.results[1:])


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        rates = [(label, workers * threads, measure(workers, threads, Path(tmp)))
                 for label, workers, threads in SETUPS]
    baseline = rates[0][2]
    return [{"setup": label, "cores": cores, "images_per_s": rate, "speedup": rate / baseline,
             "efficiency": rate / (cores * baseline)} for label, cores, rate in rates]


def report(rows: list[dict]) -> list[str]:
    lines = ["| setup | img/s | speed-up | efficiency |", "|---|---|---|---|"]
    lines += [f"| {r['setup']} | {r['images_per_s']:.0f} | {r['speedup']:.2f}x | **{100 * r['efficiency']:.0f}%** |"
              for r in rows]
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
