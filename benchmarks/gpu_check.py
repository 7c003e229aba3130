"""`make gpu-check`: the first minutes on a GPU, spent on what a user on a GPU cluster hits first.

Within 8 minutes on one GPU (it stops itself before then), in this order, each step in its own
process under a time guard that ends it when its share of the budget runs out:

1. **tests**: the suite's CUDA-marked tests (``pytest -m cuda``): the loss gather under NCCL, the
   bf16 step against fp32, the loader's ToDevice views against the CPU views.
2. **training**: SimCLR ResNet-50 pretraining through the shipped two-view FFCV loader, bf16 +
   channels_last, on a generated ImageNet-like .beton at the writer's defaults, about 25 s at
   160 px then at 224 px: images/s per GPU (a pair of views counts as two images), the share of
   the time spent waiting for data, peak memory, and the same model step on synthetic tensors
   already on the GPU (the loader's cost is the ratio).  Each figure stands beside a published
   ResNet-50 training figure as a ratio (``REFERENCE``).
3. **campaign**: 2 trials with ``gpus_per_worker: 1``, one epoch each, on that .beton: each trial
   saw a GPU (its first report's ``gpus_visible``) and MLflow holds both runs.
4. **compile**: ``torch.compile`` of the model step, its speed-up over eager, if time is left.

It installs nothing beyond ``make install``.  Without CUDA it prints one line and exits 0.  It
writes ``gpu_check.md`` and ``gpu_check.json`` to ``$OUT``, or ``benchmarks/results/gpu/``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BUDGET_S = 8 * 60 - 30  # the whole check, with a margin for starting and writing the report
STEPS = {"tests": 120, "training": 150, "campaign": 120, "compile": 60}  # each step's most seconds
DEFAULT_OUT = Path(__file__).parent / "results" / "gpu"
NO_GPU = "gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing to check on this machine"
REFERENCE = {
    "images_per_s_224": 2600.0,
    "source": "ResNet-50 training on one A100 with AMP and channels_last at 224 px, batch 512: about 2,600 "
              "images/s (timm's benchmark.py, as reported in pytorch-image-models issue 1491); at 160 px the "
              "same work per pixel allows (224/160)^2 = 1.96x as many",
}
RESOLUTIONS = (160, 224)
PHOTOS, BATCH, LOADER_WORKERS, SECONDS_PER_RESOLUTION = 1024, 128, 12, 25.0


@dataclass
class StepResult:
    """One step: ok / failed / timed out / skipped, its seconds, its figures and a note."""
    name: str
    status: str
    seconds: float
    figures: dict = field(default_factory=dict)
    note: str = ""


def run_guarded(argv: list[str], timeout_s: float) -> tuple[str, float, str]:
    """Run ``argv``; end it after ``timeout_s``.  (status, seconds, the last lines it printed)."""
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        return "timed out", time.perf_counter() - start, output[-2000:]
    status = "ok" if done.returncode == 0 else "failed"
    return status, time.perf_counter() - start, (done.stdout + done.stderr)[-2000:]


def run_all(out: Path, budget_s: float = BUDGET_S, steps: dict[str, float] = STEPS) -> list[StepResult]:
    """Every step in order, each in its own process under the guard, until the budget runs out."""
    deadline = time.perf_counter() + budget_s
    results = []
    for name, share in steps.items():
        timeout = min(share, deadline - time.perf_counter())
        if timeout < 5:
            results.append(StepResult(name, "skipped", 0.0, note="no time left in the budget"))
            continue
        status, seconds, tail = run_guarded([sys.executable, "-m", "benchmarks.gpu_check", "--step", name,
                                             "--out", str(out)], timeout)
        figures_file = out / f"{name}.json"
        figures = json.loads(figures_file.read_text()) if figures_file.is_file() else {}
        results.append(StepResult(name, status, seconds, figures, "" if status == "ok" else tail.strip()[-600:]))
    return results


# --- the steps (each runs in its own process) -------------------------------------------------


def step_tests(out: Path) -> dict:
    argv = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "tests", "-p", "no:cacheprovider"]
    done = subprocess.run(argv, capture_output=True, text=True)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode not in (0,):
        raise SystemExit(f"CUDA tests failed: {last}\n{done.stdout[-1500:]}")
    return {"pytest": last}


def _photos_beton(folder: Path) -> Path:
    from benchmarks.writer import make_photos
    from pipelines.image_folder import write_image_folder

    beton = folder / "photos.beton"
    if not beton.exists():
        write_image_folder(make_photos(folder / "photos", count=PHOTOS, classes=8), beton, workers=8)
    return beton


def _config(resolution: int, backbone: str = "resnet50"):
    from tuning.config import validate_config

    return validate_config({
        "data": {"batch_size": BATCH, "resolution": resolution, "loader_workers": LOADER_WORKERS},
        "model": {"backbone": backbone, "small_stem": False, "projector": "2048-2048-128", "channels_last": True},
        "resources": {"workers": 1, "gpus_per_worker": 1, "torch_threads": 4, "precision": "bf16"}})


def step_training(out: Path) -> dict:
    import torch

    from benchmarks.train_step import bare_model_rate
    from tuning.run.data import PreparedData
    from tuning.run.loop import Pretraining
    from tuning.run.sessions import LocalSession

    beton = _photos_beton(Path(tempfile.gettempdir()) / "dualtune-gpu-check")
    data = PreparedData(train=str(beton), test=str(beton), num_classes=8, select_per_class=1, select_seed=0)
    figures = {"gpu": torch.cuda.get_device_name(0)}
    for resolution in RESOLUTIONS:
        torch.cuda.reset_peak_memory_stats()
        run = Pretraining(_config(resolution), data, LocalSession(device="cuda"))
        run.train_epoch(0)  # FFCV compiles its pipeline; cuDNN picks its kernels
        torch.cuda.synchronize()
        seen, waited, start, epoch = 0, 0.0, time.perf_counter(), 1
        while time.perf_counter() - start < SECONDS_PER_RESOLUTION:
            totals = run.train_epoch(epoch)
            seen, waited, epoch = seen + totals.seen, waited + totals.data_wait_s, epoch + 1
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        images = 2 * seen / elapsed  # two views of each image go through the network
        bare = 2 * bare_model_rate(run, BATCH, resolution)
        reference = REFERENCE["images_per_s_224"] * (224 / resolution) ** 2
        figures[str(resolution)] = {
            "images_per_s": images, "bare_images_per_s": bare, "loader_keeps": images / bare,
            "data_wait": waited / elapsed, "peak_memory_gb": torch.cuda.max_memory_allocated() / 1e9,
            "reference_images_per_s": reference, "of_reference": images / reference}
    return figures


def step_campaign(out: Path) -> dict:
    import yaml
    from mlflow.tracking import MlflowClient

    from tuning.campaign.records.results import read_trial_records
    from tuning.campaign.search.driver import CampaignOptions, run_campaign
    from tuning.campaign.space import load_space

    folder = Path(tempfile.mkdtemp(prefix="dualtune-gpu-campaign-"))
    beton = _photos_beton(Path(tempfile.gettempdir()) / "dualtune-gpu-check")
    space_file = folder / "gpu.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "gpu-check", "base": "digits-simclr", "num_samples": 2, "max_concurrent_trials": 1,
        "scheduler": {"type": "fifo"},
        "overrides": {"data.train": str(beton), "data.test": str(beton), "data.select_per_class": 8,
                      "data.resolution": 160, "data.batch_size": BATCH, "schedule.epochs": 1,
                      "model.backbone": "resnet18", "model.small_stem": False,
                      "resources.workers": 1, "resources.gpus_per_worker": 1, "resources.precision": "bf16",
                      "probe.offline_epochs": 2, "probe.rung_bank_images": 256},
        "params": {"optim.base_lr": {"distribution": "categorical", "choices": [0.3, 1.0]}}}))
    result = run_campaign(load_space(str(space_file)), CampaignOptions(runs_dir=folder / "runs"), name="gpu-check")
    records = read_trial_records(f"{result.storage}/{result.name}")
    runs = MlflowClient(result.tracking_uri).search_runs([result.experiment_id],
                                                         f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'")
    saw = [r.results[0].get("gpus_visible") for r in records]
    figures = {"trials": len(records), "gpus_visible": saw, "mlflow_runs": len(runs),
               "statuses": [str(r.status) for r in records]}
    if not (len(records) == 2 and all(s and s >= 1 for s in saw) and len(runs) == 2):
        (out / "campaign.json").write_text(json.dumps(figures))
        raise SystemExit(f"campaign check failed: {figures}")
    return figures


def step_compile(out: Path) -> dict:
    import torch

    from benchmarks.train_step import bare_model_rate
    from tuning.run.data import PreparedData
    from tuning.run.loop import Pretraining
    from tuning.run.sessions import LocalSession

    beton = _photos_beton(Path(tempfile.gettempdir()) / "dualtune-gpu-check")
    data = PreparedData(train=str(beton), test=str(beton), num_classes=8, select_per_class=1, select_seed=0)
    run = Pretraining(_config(160), data, LocalSession(device="cuda"))
    eager = bare_model_rate(run, BATCH, 160, steps=10)
    run.network = torch.compile(run.network)
    bare_model_rate(run, BATCH, 160, steps=2)  # compiles
    compiled = bare_model_rate(run, BATCH, 160, steps=10)
    return {"eager_pairs_per_s": eager, "compiled_pairs_per_s": compiled, "speedup": compiled / eager}


STEP_FUNCTIONS = {"tests": step_tests, "training": step_training, "campaign": step_campaign, "compile": step_compile}


# --- the report --------------------------------------------------------------------------------


def render(results: list[StepResult]) -> str:
    """The markdown report of a check's results."""
    lines = ["## GPU check", "", "| step | status | seconds | note |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.status} | {r.seconds:.0f} | {r.note.splitlines()[-1] if r.note else ''} |"
              for r in results]
    by_name = {r.name: r for r in results}
    training = by_name.get("training")
    if training and training.status == "ok":
        lines += ["", f"Training on {training.figures.get('gpu', 'the GPU')} (SimCLR ResNet-50, bf16 + channels_last, "
                  f"batch {BATCH} pairs, the shipped two-view loader):", "",
                  "| px | images/s (2 a pair) | bare model images/s | loader keeps | data wait | peak memory (GB) "
                  "| reference images/s | of reference |", "|---|---|---|---|---|---|---|---|"]
        for resolution in RESOLUTIONS:
            f = training.figures[str(resolution)]
            lines.append(f"| {resolution} | {f['images_per_s']:.0f} | {f['bare_images_per_s']:.0f} "
                         f"| {f['loader_keeps']:.2f} | {100 * f['data_wait']:.1f}% | {f['peak_memory_gb']:.1f} "
                         f"| {f['reference_images_per_s']:.0f} | **{f['of_reference']:.2f}** |")
        lines += ["", f"Reference: {REFERENCE['source']}."]
    campaign = by_name.get("campaign")
    if campaign and campaign.figures:
        f = campaign.figures
        lines += ["", f"Campaign: {f['trials']} trials, GPUs visible to each {f['gpus_visible']}, "
                  f"{f['mlflow_runs']} MLflow child runs, statuses {f['statuses']}."]
    compiled = by_name.get("compile")
    if compiled and compiled.status == "ok":
        f = compiled.figures
        lines += ["", f"torch.compile: {f['speedup']:.2f}x the eager model step ({f['compiled_pairs_per_s']:.0f} "
                  f"against {f['eager_pairs_per_s']:.0f} pairs/s)."]
    return "\n".join(lines) + "\n"


def write_report(results: list[StepResult], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    report = out / "gpu_check.md"
    report.write_text(render(results))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", choices=list(STEP_FUNCTIONS), help="run one step (the check runs each so)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or DEFAULT_OUT))
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(NO_GPU)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step:
        figures = STEP_FUNCTIONS[args.step](args.out)
        (args.out / f"{args.step}.json").write_text(json.dumps(figures))
        return 0
    report = write_report(run_all(args.out), args.out)
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
