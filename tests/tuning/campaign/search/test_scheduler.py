"""ASHA across a stop and resume: a scheduler refilled from the recorded results makes the
decisions the uninterrupted one makes; one that is not (Tune's, which saves no scheduler) passes
a trial the uninterrupted one cuts."""
from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from tuning.campaign.records.results import TrialRecord
from tuning.campaign.search.scheduler import ResumableAsha, build_scheduler
from tuning.campaign.space import SearchSpace

CURVES = {"a": [50.0, 60.0, 70.0, 80.0], "b": [40.0, 45.0, 50.0, 55.0], "c": [30.0, 35.0, 40.0, 45.0],
          "d": [55.0, 65.0, 70.0, 90.0]}
"""Each trial's metric at epochs 1..4, trained one trial at a time in this order."""


def _space() -> SearchSpace:
    return SearchSpace(name="s", base="digits-simclr", num_samples=4, metric="m", mode="max",
                       scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2},
                       params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})


def _run(scheduler, trials: list[str], start: dict[str, int] | None = None) -> dict[str, int]:
    """Each trial's epochs until ASHA stops it (or its last), from its ``start`` epoch on."""
    trained = {}
    for trial_id in trials:
        trial = SimpleNamespace(trial_id=trial_id)
        scheduler.on_trial_add(None, trial)
        for epoch in range((start or {}).get(trial_id, 0) + 1, 5):
            result = {"training_iteration": epoch, "m": CURVES[trial_id][epoch - 1]}
            action = scheduler.on_trial_result(None, trial, result)
            trained[trial_id] = epoch
            if action == TrialScheduler.STOP:
                break
    return trained


def _records(trained: dict[str, int]) -> list[TrialRecord]:
    """What the stopped campaign recorded: each trial's results, reported in order."""
    clock = iter(range(1000))
    return [TrialRecord(trial_id, {}, [{"epoch": e, "m": CURVES[trial_id][e - 1], "reported_at": float(next(clock))}
                                       for e in range(1, last + 1)], None, "", True)
            for trial_id, last in trained.items()]


def test_a_refilled_asha_cuts_where_the_uninterrupted_one_does():
    reference = _run(build_scheduler(_space(), 4), list(CURVES))
    assert reference == {"a": 4, "b": 1, "c": 1, "d": 4}  # ASHA at work: two trials cut at their first rung
    before_stop = _run(build_scheduler(_space(), 4), ["a", "b"])
    resumed = build_scheduler(_space(), 4)
    assert isinstance(resumed, ResumableAsha)
    resumed.refill(_records(before_stop))
    assert {**before_stop, **_run(resumed, ["c", "d"])} == reference


def test_an_asha_that_forgot_its_rungs_lets_a_weak_trial_through():
    before_stop = _run(build_scheduler(_space(), 4), ["a", "b"])
    forgetful = build_scheduler(_space(), 4)  # Tune's restore: the scheduler as it was created
    assert {**before_stop, **_run(forgetful, ["c", "d"])}["c"] > 1
