"""Learning curves on the CPU benchmark: does pretraining beat its own input?

The ``fmnist-full`` preset (SimCLR, small_cnn, the whole 60,000-image Fashion-MNIST train split
at 28 px with 500 images a class held out as select, 12 epochs, bf16 autocast + channels_last)
is trained twice, one process and one core each: as it is (default), and with the
hyperparameters of the best trial of the rung-metric campaign (chosen there on select by the
offline linear probe; ``benchmarks/results/metric_signal_best.json``, written by ``python -m
benchmarks metric_signal``). The backbone saved after epochs 1, 4, 8 and 12 goes through the
offline linear probe and k-NN (settings chosen on select, scored on test), which see the whole
28 px image. Beside them, the baselines through the same probes: raw pixels, random Fourier
features of the pixels, the untrained network (its BatchNorm statistics estimated on fit
images), and the supervised ceiling (the default config trained with labels: the same backbone,
augmentations, epochs and optimiser; tuning.run.baselines). The best config also trains with
seeds 1 and 2 (scored at epoch 12 only): the goal is read off its mean over the three seeds with
a 95% t-interval; a single run's interval is the binomial one over the 10,000 test images, which
leaves seed-to-seed spread out. Goals: the best config's test linear probe at least 3 points
above raw pixels and 8 above the untrained network, at no more than 20 minutes a trial on one
core. Runs go two at a time, one per core; the default config runs one seed (time).
"""
from __future__ import annotations

import json
import multiprocessing
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.goals import verdict
from benchmarks.local_runs import preset_config, pretrain_locally
from tuning.reproduction.verdicts import seed_interval
from tuning.run import reports

TITLE = ("Learning curves: SimCLR on the whole Fashion-MNIST train split against raw pixels, their random features, "
         "an untrained network and the supervised ceiling")
PRESET, CURVE_EPOCHS, TEST_IMAGES = "fmnist-full", (1, 4, 8, 12), 10_000
SEEDS = {"default": (0,), "best": (0, 1, 2)}
BEST_PARAMS = Path(__file__).parent / "results" / "metric_signal_best.json"
PLOT = Path(__file__).with_name("learning_curves.png")
RAW = Path(__file__).parent / "results" / "learning_curves.json"
SCORES = {reports.LINEAR_PROBE_TEST_TOP1: "linear probe", reports.KNN_TEST_TOP1: "k-NN"}
GOAL_OVER_PIXELS, GOAL_OVER_UNTRAINED, GOAL_MINUTES = 3.0, 8.0, 20.0


def configs() -> dict[str, dict]:
    """The overrides of each curve's config: none (default), and the rung campaign's best."""
    best = json.loads(BEST_PARAMS.read_text()) if BEST_PARAMS.is_file() else None
    return {"default": {}, **({"best": best["params"]} if best else {})}


def curve(name: str, overrides: dict, seed: int, data_dir: str) -> dict:
    """Train one config with ``seed``, then probe its checkpoints at ``CURVE_EPOCHS`` (seed 0)
    or at the last epoch only (other seeds)."""
    import time

    import torch

    from tuning.run import checkpoints
    from tuning.run.data import prepare_data
    from tuning.run.evaluation import final_evaluation
    from tuning.run.model import build_network

    cfg = preset_config(PRESET, {**overrides, "seed": seed})
    probed = CURVE_EPOCHS if seed == 0 else CURVE_EPOCHS[-1:]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        session = pretrain_locally(cfg, data_dir, Path(folder))
        minutes = (time.perf_counter() - start) / 60
        data = prepare_data(cfg, Path(data_dir))
        points = {}
        for directory in sorted(Path(folder).iterdir()):
            epoch = checkpoints.load_metrics(directory)[reports.EPOCH]
            if epoch not in probed:
                continue
            backbone = build_network(cfg, data.num_classes).backbone
            backbone.load_state_dict(checkpoints.load_backbone_weights(directory / checkpoints.BACKBONE_FILE))
            points[epoch] = {key: value for key, value in final_evaluation(cfg, data, backbone, torch.device("cpu"))
                             .items() if key in SCORES}
    return {"name": name, "seed": seed, "overrides": overrides, "points": points, "trial_minutes": minutes,
            "select": session.reports[-1][reports.LINEAR_PROBE_SELECT_TOP1]}


def baselines(data_dir: str) -> dict[str, float]:
    """Every representation of ``reports.BASELINES`` through the default config's probes, the
    supervised ceiling included."""
    import torch

    from tuning.run.baselines import measure_baselines, measure_supervised
    from tuning.run.data import prepare_data

    cfg = preset_config(PRESET, {})
    data = prepare_data(cfg, Path(data_dir))
    return {**measure_baselines(cfg, data, torch.device("cpu")), **measure_supervised(cfg, data)}


def run() -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        from tuning.run.data import prepare_data

        prepare_data(preset_config(PRESET, {}), Path(data_dir))  # written once, before the runs could race
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = [pool.submit(curve, name, overrides, seed, data_dir)
                    for seed in (0, 1, 2) for name, overrides in configs().items() if seed in SEEDS[name]]
            measuring = pool.submit(baselines, data_dir)
            curves = [job.result() for job in jobs]
            measured = measuring.result()
    outcome = {"curves": curves, "baselines": measured}
    RAW.write_text(json.dumps(outcome, indent=1))
    _plot(outcome)
    return outcome


def binomial_half_width(percent: float, images: int = TEST_IMAGES) -> float:
    """Half-width (points) of the normal-approximation 95% interval of an accuracy on ``images``."""
    p = percent / 100
    return 196.0 * (p * (1 - p) / images) ** 0.5


def final_scores(outcome: dict, name: str, key: str = reports.LINEAR_PROBE_TEST_TOP1) -> list[float]:
    """The last epoch's score of every seed of config ``name``."""
    return [by_epoch(r)[-1][1][key] for r in outcome["curves"] if r["name"] == name]


def by_epoch(result: dict) -> list[tuple[int, dict]]:
    """A curve's probed points in epoch order (a curve read back from JSON has its epochs as text)."""
    return sorted((int(epoch), point) for epoch, point in result["points"].items())


def _plot(outcome: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    names = list(dict.fromkeys(r["name"] for r in outcome["curves"]))
    for axis, (key, label) in zip(axes, SCORES.items()):
        for result in outcome["curves"]:
            colour = f"C{names.index(result['name'])}"
            epochs, points = zip(*by_epoch(result))
            if result["seed"] == 0:
                axis.plot(epochs, [point[key] for point in points], "o-", color=colour,
                          label=f"SimCLR, {result['name']} config (seed 0)")
            else:
                axis.plot(epochs, [point[key] for point in points], "x", color=colour)
        for style, (representation, what) in zip(("--", "-.", ":", "-"), reports.BASELINES.items()):
            value = outcome["baselines"].get(reports.baseline_key(representation, key))
            if value is not None:
                axis.axhline(value, linestyle=style, color="gray", label=f"{what} ({value:.2f})")
        axis.set_title(f"{label}, test top-1 (x: other seeds)")
        axis.set_xlabel("pretraining epochs")
        axis.legend(fontsize=7)
    axes[0].set_ylabel("top-1 on test (%)")
    figure.savefig(PLOT, dpi=110, bbox_inches="tight")
    plt.close(figure)


def report(outcome: dict) -> list[str]:
    base = outcome["baselines"]
    pixels = base[reports.baseline_key("raw_pixels", reports.LINEAR_PROBE_TEST_TOP1)]
    untrained = base[reports.baseline_key("untrained", reports.LINEAR_PROBE_TEST_TOP1)]
    kernel = base.get(reports.baseline_key("random_features", reports.LINEAR_PROBE_TEST_TOP1))
    lines = ["| representation | seed | epochs | linear probe (test) | k-NN (test) |", "|---|---|---|---|---|"]
    for representation, label in reports.BASELINES.items():
        if reports.baseline_key(representation, reports.LINEAR_PROBE_TEST_TOP1) in base:
            cells = [f"{base[reports.baseline_key(representation, key)]:.2f}" for key in SCORES]
            lines.append(f"| {label} | - | - | {cells[0]} | {cells[1]} |")
    for result in outcome["curves"]:
        for epoch, point in by_epoch(result):
            linear = point[reports.LINEAR_PROBE_TEST_TOP1]
            lines.append(f"| SimCLR, {result['name']} config | {result['seed']} | {epoch} | {linear:.2f} ± "
                         f"{binomial_half_width(linear):.2f} | {point[reports.KNN_TEST_TOP1]:.2f} |")
    lines += ["", "(± on one run: the binomial 95% half-width over the 10,000 test images.)", "",
              f"![test linear probe and k-NN against epochs, with the baselines]({PLOT.name})", ""]
    ceiling = base.get(reports.baseline_key("supervised", reports.LINEAR_PROBE_TEST_TOP1))
    for name in dict.fromkeys(r["name"] for r in outcome["curves"]):
        runs = [r for r in outcome["curves"] if r["name"] == name]
        mean, half = seed_interval(final_scores(outcome, name))
        knn, _ = seed_interval(final_scores(outcome, name, reports.KNN_TEST_TOP1))
        minutes = [r["trial_minutes"] for r in runs]
        changed = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in runs[0]["overrides"].items()) or "the preset as it is"
        spread = f" ± {half:.2f} (95% t-interval over {len(runs)} seeds)" if len(runs) > 1 else " (one seed)"
        on_time = statistics.median(minutes) <= GOAL_MINUTES
        lines.append(f"- {name} config ({changed}; select linear probe "
                     f"{statistics.mean(r['select'] for r in runs):.2f}): test linear probe {mean:.2f}{spread}, "
                     f"{mean - pixels:+.2f} over raw pixels, "
                     + (f"{mean - kernel:+.2f} over their random features, " if kernel is not None else "")
                     + f"{mean - untrained:+.2f} over the untrained network; "
                     f"k-NN {knn:.2f} ({knn - base[reports.baseline_key('raw_pixels', reports.KNN_TEST_TOP1)]:+.2f} "
                     f"over raw pixels); {', '.join(f'{m:.1f}' for m in minutes)} minutes a run (training and the "
                     f"final probes, one core; median {statistics.median(minutes):.1f})"
                     + (f"; {100 * mean / ceiling:.1f}% of the supervised ceiling's linear probe ({ceiling:.2f})."
                        if ceiling else "."))
        readings = [("mean", mean)] + ([("interval's lower end", mean - half)] if len(runs) > 1 else [])
        verdicts = []
        for label, value in readings:
            met = value - pixels >= GOAL_OVER_PIXELS and value - untrained >= GOAL_OVER_UNTRAINED and on_time
            verdicts.append(f"at the {label} ({value - pixels:+.2f}, {value - untrained:+.2f}) "
                            f"{verdict(met)}")
        lines.append(f"  Goal (+{GOAL_OVER_PIXELS:.0f} over raw pixels, +{GOAL_OVER_UNTRAINED:.0f} over the untrained "
                     f"network, median run <= {GOAL_MINUTES:.0f} min): {'; '.join(verdicts)}.")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
