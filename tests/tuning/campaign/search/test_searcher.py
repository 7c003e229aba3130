"""What Optuna is told about each trial: COMPLETE with its value, PRUNED for an ASHA stop,
FAIL for a diverged or raising trial; a re-delivered finished trial changes nothing."""
import optuna
import pytest
from optuna.trial import TrialState

from tuning.campaign.paths import RunsFolder
from tuning.campaign.search.searcher import STATUS_ATTR, build_sampler, build_searcher
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace


@pytest.fixture
def searcher(tmp_path):
    space = SearchSpace(name="s", base="digits-simclr", num_samples=4, seed=0, metric="online_select_top1",
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    return build_searcher(space, "study", Stores.default(RunsFolder(tmp_path))), tmp_path / "optuna.db"


@pytest.mark.parametrize("result, error, state, status", [
    ({"online_select_top1": 55.0, "status": "completed"}, False, TrialState.COMPLETE, "completed"),
    ({"online_select_top1": 20.0, "status": "running"}, False, TrialState.PRUNED, "early_stopped"),
    ({"online_select_top1": 0.0, "status": "diverged"}, False, TrialState.FAIL, "diverged"),
    (None, True, TrialState.FAIL, "failed"),
    ({"status": "completed"}, False, TrialState.FAIL, "completed"),  # no value to tell: not a COMPLETE
])
def test_each_outcome_reaches_the_study_as_its_real_state(searcher, result, error, state, status):
    search, db = searcher
    sampled = search.suggest("t1")
    assert 0.1 <= sampled["optim.base_lr"] <= 1.0
    search.on_trial_complete("t1", result, error=error)
    search.on_trial_complete("t1", {"online_select_top1": 99.0, "status": "completed"})  # re-delivered: ignored
    trial = optuna.load_study(study_name="study", storage=f"sqlite:///{db}").trials[0]
    assert trial.state == state and trial.user_attrs[STATUS_ATTR] == status
    assert trial.value == (55.0 if state == TrialState.COMPLETE else None)


def _concurrent_suggestions(liar: bool | None, seed: int, concurrent: int = 4) -> list[float]:
    """TPE's suggestions for ``concurrent`` trials asked while none has finished, after 12
    finished trials that put the optimum at base_lr 0.55."""
    space = SearchSpace(name="s", base="digits-simclr", num_samples=20, seed=seed, max_concurrent_trials=concurrent,
                        tpe={"constant_liar": liar},
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    study = optuna.create_study(direction="maximize", sampler=build_sampler(space))
    distribution = {"optim.base_lr": optuna.distributions.FloatDistribution(0.1, 1.0)}
    for i in range(12):
        x = 0.1 + 0.9 * i / 11
        study.add_trial(optuna.trial.create_trial(params={"optim.base_lr": x}, distributions=distribution,
                                                  value=-(x - 0.55) ** 2))
    running = [study.ask() for _ in range(concurrent)]
    return [trial.suggest_float("optim.base_lr", 0.1, 1.0) for trial in running]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constant_liar_keeps_concurrent_trials_apart(seed):
    import statistics

    alike = statistics.pstdev(_concurrent_suggestions(False, seed))
    apart = _concurrent_suggestions(None, seed)  # the default with 4 concurrent trials: constant_liar on
    assert statistics.pstdev(apart) > 2 * alike
    assert len({round(v, 3) for v in apart}) == 4  # no two concurrent trials get the same suggestion


def test_tpe_options_follow_the_space():
    one_at_a_time = SearchSpace(name="s", base="digits-simclr", max_concurrent_trials=1)
    assert one_at_a_time.tpe_options() == {"constant_liar": False, "multivariate": True, "group": False,
                                           "n_startup_trials": 2}  # 8 trials: a quarter, at least 2
    grouped = SearchSpace(name="s", base="digits-simclr", max_concurrent_trials=4, tpe={"group": True,
                                                                                        "multivariate": True})
    sampler = build_sampler(grouped)
    assert (sampler._constant_liar, sampler._multivariate, sampler._group) == (True, True, True)
    with pytest.raises(ValueError, match="tpe.group=true needs tpe.multivariate=true"):
        SearchSpace(name="s", base="digits-simclr", tpe={"group": True, "multivariate": False})


@pytest.mark.parametrize("num_samples,asked,startup", [(8, None, 2), (24, None, 6), (100, None, 10), (12, 5, 5)])
def test_tpe_models_the_results_after_a_quarter_of_the_trials(num_samples, asked, startup):
    space = SearchSpace(name="s", base="digits-simclr", num_samples=num_samples, seed=0,
                        tpe={"n_startup_trials": asked} if asked else {},
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    assert build_sampler(space)._n_startup_trials == startup


def test_after_its_startup_trials_tpe_leaves_random_search():
    """Optuna's default of 10 random start-up trials would make a campaign of 8 trials random
    search: the same suggestions as the random sampler with the same seed."""
    def suggestions(sampler) -> list[float]:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        values = []
        for _ in range(6):
            trial = study.ask()
            x = trial.suggest_float("optim.base_lr", 0.1, 1.0)
            study.tell(trial, -(x - 0.55) ** 2)
            values.append(x)
        return values

    space = SearchSpace(name="s", base="digits-simclr", num_samples=8, seed=0,
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    random = suggestions(optuna.samplers.RandomSampler(seed=0))
    tpe = suggestions(build_sampler(space))
    optuna_default = suggestions(optuna.samplers.TPESampler(seed=0, multivariate=True))
    assert optuna_default == random  # 10 start-up trials: 6 asks are all random
    assert tpe[:2] == random[:2] and tpe[2:] != random[2:]  # 2 start-up trials, then TPE


def test_the_gp_sampler_starts_with_as_many_random_trials_as_tpe():
    space = SearchSpace(name="s", base="digits-simclr", sampler="gp", num_samples=20, seed=4)
    sampler = build_sampler(space)
    assert isinstance(sampler, optuna.samplers.GPSampler)
    assert sampler._n_startup_trials == space.tpe_options()["n_startup_trials"] == 5
