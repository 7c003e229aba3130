"""Learning curves on the CPU benchmark: does pretraining beat its own input?

The ``fmnist-full`` preset (SimCLR, small_cnn, the whole 60,000-image Fashion-MNIST train split
at 28 px with 500 images a class held out as select, 12 epochs, bf16 autocast + channels_last)
is trained twice, one process and one core each: as it is (default), and with the
hyperparameters of the best trial of the rung-metric campaign (chosen there on select by the
offline linear probe; ``benchmarks/results/metric_signal_best.json``, written by
``python -m benchmarks metric_signal``).  The backbone saved after epochs 1, 4, 8 and 12
goes through the offline linear probe and k-NN (settings chosen on select, scored on test).
Beside them, the baselines through the same probes: raw pixels and the untrained network (its
BatchNorm statistics estimated on fit images).  One seed each: the interval given for a test
accuracy is its binomial 95% interval over the 10,000 test images, which leaves seed-to-seed
spread out (benchmarks/RESULTS.md, "Precision on the CPU", measured 0.3-0.6 points of std on
the 6,000-image subset).  Goals: the best config's test linear probe at least 3 points above
raw pixels and 8 above the untrained network, at no more than 20 minutes a trial on one core.
"""
from __future__ import annotations

import json
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.local_runs import preset_config, pretrain_locally
from tuning.run import reports

TITLE = "Learning curves: SimCLR on the whole Fashion-MNIST train split against raw pixels and an untrained network"
PRESET, CURVE_EPOCHS, TEST_IMAGES = "fmnist-full", (1, 4, 8, 12), 10_000
BEST_PARAMS = Path(__file__).parent / "results" / "metric_signal_best.json"
PLOT = Path(__file__).with_name("learning_curves.png")
SCORES = {reports.LINEAR_PROBE_TEST_TOP1: "linear probe", reports.KNN_TEST_TOP1: "k-NN"}
GOAL_OVER_PIXELS, GOAL_OVER_UNTRAINED, GOAL_MINUTES = 3.0, 8.0, 20.0


def configs() -> dict[str, dict]:
    """The overrides of each curve's config: none (default), and the rung campaign's best."""
    best = json.loads(BEST_PARAMS.read_text()) if BEST_PARAMS.is_file() else None
    return {"default": {}, **({"best": best["params"]} if best else {})}


def curve(name: str, overrides: dict, data_dir: str) -> dict:
    """Train one config, then probe its checkpoints at ``CURVE_EPOCHS``."""
    import time

    import torch

    from tuning.run import checkpoints
    from tuning.run.data import prepare_data
    from tuning.run.evaluation import final_evaluation
    from tuning.run.model import build_network

    cfg = preset_config(PRESET, overrides)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        session = pretrain_locally(cfg, data_dir, Path(folder))
        minutes = (time.perf_counter() - start) / 60
        data = prepare_data(cfg, Path(data_dir))
        points = {}
        for directory in sorted(Path(folder).iterdir()):
            epoch = checkpoints.load_metrics(directory)[reports.EPOCH]
            if epoch not in CURVE_EPOCHS:
                continue
            backbone = build_network(cfg, data.num_classes).backbone
            backbone.load_state_dict(checkpoints.load_backbone_weights(directory / checkpoints.BACKBONE_FILE))
            points[epoch] = {key: value for key, value in final_evaluation(cfg, data, backbone, torch.device("cpu"))
                             .items() if key in SCORES}
    return {"name": name, "overrides": overrides, "points": points, "trial_minutes": minutes,
            "select": session.reports[-1][reports.LINEAR_PROBE_SELECT_TOP1]}


def baselines(data_dir: str) -> dict[str, float]:
    import torch

    from tuning.run.baselines import measure_baselines
    from tuning.run.data import prepare_data

    cfg = preset_config(PRESET, {})
    return measure_baselines(cfg, prepare_data(cfg, Path(data_dir)), torch.device("cpu"))


def run() -> dict:
    with tempfile.TemporaryDirectory() as data_dir:
        from tuning.run.data import prepare_data

        prepare_data(preset_config(PRESET, {}), Path(data_dir))  # written once, before the runs could race
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = [pool.submit(curve, name, overrides, data_dir) for name, overrides in configs().items()]
            curves = [job.result() for job in jobs]
            measured = pool.submit(baselines, data_dir).result()
    outcome = {"curves": curves, "baselines": measured}
    _plot(outcome)
    return outcome


def binomial_half_width(percent: float, images: int = TEST_IMAGES) -> float:
    """Half-width (points) of the normal-approximation 95% interval of an accuracy on ``images``."""
    p = percent / 100
    return 196.0 * (p * (1 - p) / images) ** 0.5


def _plot(outcome: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, (key, label) in zip(axes, SCORES.items()):
        for index, result in enumerate(outcome["curves"]):
            epochs = sorted(result["points"])
            axis.plot(epochs, [result["points"][e][key] for e in epochs], "o-", color=f"C{index}",
                      label=f"SimCLR, {result['name']} config")
        for style, representation, what in (("--", "raw_pixels", "raw pixels"), (":", "untrained", "untrained")):
            value = outcome["baselines"].get(reports.baseline_key(representation, key))
            if value is not None:
                axis.axhline(value, linestyle=style, color="gray", label=f"{what} ({value:.2f})")
        axis.set_title(f"{label}, test top-1")
        axis.set_xlabel("pretraining epochs")
        axis.legend(fontsize=7)
    axes[0].set_ylabel("top-1 on test (%)")
    figure.savefig(PLOT, dpi=110, bbox_inches="tight")
    plt.close(figure)


def report(outcome: dict) -> list[str]:
    base = outcome["baselines"]
    pixels = base[reports.baseline_key("raw_pixels", reports.LINEAR_PROBE_TEST_TOP1)]
    untrained = base[reports.baseline_key("untrained", reports.LINEAR_PROBE_TEST_TOP1)]
    lines = ["| representation | epochs | linear probe (test) | k-NN (test) |", "|---|---|---|---|"]
    for representation, label in (("raw_pixels", "raw pixels"), ("untrained", "untrained network")):
        cells = [f"{base[reports.baseline_key(representation, key)]:.2f}" for key in SCORES]
        lines.append(f"| {label} | - | {cells[0]} | {cells[1]} |")
    for result in outcome["curves"]:
        for epoch in sorted(result["points"]):
            point = result["points"][epoch]
            linear = point[reports.LINEAR_PROBE_TEST_TOP1]
            lines.append(f"| SimCLR, {result['name']} config | {epoch} | {linear:.2f} ± "
                         f"{binomial_half_width(linear):.2f} | {point[reports.KNN_TEST_TOP1]:.2f} |")
    lines += ["", f"![test linear probe and k-NN against epochs, with both baselines]({PLOT.name})", ""]
    for result in outcome["curves"]:
        final = result["points"][max(result["points"])][reports.LINEAR_PROBE_TEST_TOP1]
        changed = ", ".join(f"{k}={v}" for k, v in result["overrides"].items()) or "the preset as it is"
        met = (final - pixels >= GOAL_OVER_PIXELS and final - untrained >= GOAL_OVER_UNTRAINED
               and result["trial_minutes"] <= GOAL_MINUTES)
        lines.append(f"- {result['name']} config ({changed}; select linear probe {result['select']:.2f}): "
                     f"{final:.2f} on test, {final - pixels:+.2f} over raw pixels, {final - untrained:+.2f} over the "
                     f"untrained network, {result['trial_minutes']:.1f} minutes of training on one core. Goal "
                     f"(+{GOAL_OVER_PIXELS:.0f}, +{GOAL_OVER_UNTRAINED:.0f}, <= {GOAL_MINUTES:.0f} min): "
                     f"**{'met' if met else 'not met'}**.")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
