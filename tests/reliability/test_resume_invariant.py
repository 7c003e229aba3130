"""The resume invariant: a campaign that runs one trial at a time, stopped and resumed at any
moment any number of times, ends with exactly the records of the same campaign never stopped:
the same trials and configs, each epoch once with the same values, the same ASHA stops, the same
exported best, the same MLflow runs, steps and statuses (tests/reliability/interruptions.py reads
them all).  On the CPU training is deterministic per seed, so any difference is a lost, doubled
or rewritten record.

Each draw is seeded; a failing one names its seed, and ``RESUME_DRAW_SEEDS=7,12`` replays those
(``RESUME_DRAW_SEEDS=random`` draws fresh ones).  ``make test`` runs a few draws, CI (slow) more.
A seed fixes when and how the stops come, in seconds: what the campaign is doing then depends on
the machine's speed, so the same seeds land at different moments on different machines.
Real driver processes, a real local Ray per driver, real MLflow and Optuna stores."""
import os
import random
import shutil
import time

import pytest

from tests.reliability.interruptions import Draw, differences, inconsistencies, records, run_with_stops, start
from tests.spaces import write_tiny_space

pytestmark = pytest.mark.service  # driver processes, each with its own local Ray
NAME = "inv"
EPOCHS = 3
PARAMS = ["loss.params.temperature"]
QUICK_SEEDS, SLOW_SEEDS, CONCURRENT_SEEDS = (1185, 9700), (4094, 77, 1234, 5, 7), (6, 1185, 8)
"""The draws each test runs by default (about 2 minutes a draw)."""


def _space(path, trials: int = 3, at_once: int = 1):
    return write_tiny_space(path, NAME, num_samples=trials, max_concurrent_trials=at_once, seed=0, sampler="tpe",
                            scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2},
                            metric="frozen_ridge_select_top1", overrides={"schedule.epochs": EPOCHS})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The campaign never stopped: its records and how long it ran."""
    folder = tmp_path_factory.mktemp("reference")
    space = _space(folder / "inv.yaml")
    began = time.monotonic()
    driver = start(folder / "runs", space, NAME, folder / "driver.log")
    assert driver.wait(timeout=900) == 0, (folder / "driver.log").read_text()[-4000:]
    length = time.monotonic() - began
    return {"records": records(folder / "runs", NAME, PARAMS), "length_s": length, "space": space,
            "data": folder / "runs" / "data"}


def _seeds(default: tuple[int, ...]) -> list[int]:
    chosen = os.environ.get("RESUME_DRAW_SEEDS")
    if chosen == "random":
        return [random.SystemRandom().randrange(10_000) for _ in default]
    return [int(s) for s in chosen.split(",")] if chosen else list(default)


def _check_draws(reference, tmp_path, seeds: tuple[int, ...]) -> None:
    failures, landed = [], []
    for seed in _seeds(seeds):
        folder = tmp_path / f"draw{seed}"
        folder.mkdir()
        shutil.copytree(reference["data"], folder / "runs" / "data")  # the same .beton files and baselines cache
        draw = Draw.of(seed, reference["length_s"])
        try:
            run_with_stops(folder / "runs", reference["space"], NAME, draw, EPOCHS, folder / "driver.log")
        except AssertionError as error:  # the campaign could not be finished: this draw fails, the next ones run
            failures.append(str(error)[:3000])
            continue
        landed += [stop.moment for stop in draw.stops if stop.moment]
        found = draw.problems + differences(reference["records"], records(folder / "runs", NAME, PARAMS))
        if found:
            failures.append(f"{draw.describe()}\n  " + "\n  ".join(found[:20]))
    print(f"moments covered: {sorted(set(landed))}")
    assert not failures, "\n".join(failures)


def test_the_reference_records_every_view_alike(reference):
    """The uninterrupted campaign itself: every trial's epochs are 1..n once, Tune's iteration is
    the epoch, and status, MLflow and Tune count the same epochs."""
    recorded = reference["records"]
    assert len(recorded["tune"]) == 3
    for key, results in recorded["tune"].items():
        epochs = [r["epoch"] for r in results]
        assert epochs == list(range(1, len(epochs) + 1))
        assert [r["training_iteration"] for r in results] == epochs
        assert recorded["status"][key]["epochs"] == len(epochs)
        (run,) = recorded["mlflow"][key]
        assert [step for step, _ in run["loss"]] == epochs
    assert {t["status"] for t in recorded["status"].values()} & {"early_stopped"}  # ASHA cut one: stops compared
    assert recorded["parents"] == [{"status": "FINISHED", "dualtune.status": "completed"}]


def test_stopped_and_resumed_campaigns_keep_the_reference_records(reference, tmp_path):
    _check_draws(reference, tmp_path, QUICK_SEEDS)


@pytest.mark.slow
def test_many_drawn_interruptions_keep_the_reference_records(reference, tmp_path):
    _check_draws(reference, tmp_path, SLOW_SEEDS)


@pytest.mark.slow
def test_two_trials_at_a_time_keep_every_view_whole(reference, tmp_path):
    """Two trials at a time, ASHA's choices depend on timing: what must hold all the same."""
    space = _space(tmp_path / "inv2.yaml", trials=4, at_once=2)
    failures = []
    for seed in _seeds(CONCURRENT_SEEDS):
        folder = tmp_path / f"draw{seed}"
        folder.mkdir()
        shutil.copytree(reference["data"], folder / "runs" / "data")
        draw = Draw.of(seed, reference["length_s"])
        try:
            run_with_stops(folder / "runs", space, NAME, draw, EPOCHS, folder / "driver.log")
        except AssertionError as error:
            failures.append(str(error)[:3000])
            continue
        found = draw.problems + inconsistencies(folder / "runs", NAME, PARAMS, records(folder / "runs", NAME, PARAMS))
        if found:
            failures.append(f"{draw.describe()}\n  " + "\n  ".join(found[:20]))
    assert not failures, "\n".join(failures)
