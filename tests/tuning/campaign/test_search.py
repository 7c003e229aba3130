"""What Optuna is told about each trial: COMPLETE with its value, PRUNED for an ASHA stop,
FAIL for a diverged or raising trial; a re-delivered finished trial changes nothing."""
import optuna
import pytest
from optuna.trial import TrialState

from tuning.campaign.search import STATUS_ATTR, build_searcher
from tuning.campaign.space import SearchSpace


@pytest.fixture
def searcher(tmp_path):
    space = SearchSpace(name="s", base="digits-simclr", num_samples=4, seed=0,
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    return build_searcher(space, "study", tmp_path / "optuna.db"), tmp_path / "optuna.db"


@pytest.mark.parametrize("result, error, state, status", [
    ({"online_top1": 55.0, "status": "completed"}, False, TrialState.COMPLETE, "completed"),
    ({"online_top1": 20.0, "status": "running"}, False, TrialState.PRUNED, "early_stopped"),
    ({"online_top1": 0.0, "status": "diverged"}, False, TrialState.FAIL, "diverged"),
    (None, True, TrialState.FAIL, "failed"),
    ({"status": "completed"}, False, TrialState.FAIL, "completed"),  # no value to tell: not a COMPLETE
])
def test_each_outcome_reaches_the_study_as_its_real_state(searcher, result, error, state, status):
    search, db = searcher
    sampled = search.suggest("t1")
    assert 0.1 <= sampled["optim.base_lr"] <= 1.0
    search.on_trial_complete("t1", result, error=error)
    search.on_trial_complete("t1", {"online_top1": 99.0, "status": "completed"})  # re-delivered: ignored
    trial = optuna.load_study(study_name="study", storage=f"sqlite:///{db}").trials[0]
    assert trial.state == state and trial.user_attrs[STATUS_ATTR] == status
    assert trial.value == (55.0 if state == TrialState.COMPLETE else None)
