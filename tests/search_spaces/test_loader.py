"""Search spaces: shipped ones load, bad ones fail early naming the entry, the
define-by-run function samples what the file says (conditions included)."""
import optuna
import pytest
import yaml

from search_spaces.loader import SearchSpaceError, list_presets, list_spaces, load_preset, load_space


def _write(tmp_path, **space):
    body = {"name": "t", "base": "digits-simclr", **space}
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


@pytest.mark.parametrize("name", list_spaces())
def test_shipped_spaces_load(name):
    assert load_space(name).name == name


@pytest.mark.parametrize("name", list_presets())
def test_shipped_presets_load(name):
    assert load_preset(name).schedule.epochs >= 1


def test_unknown_space_lists_available():
    with pytest.raises(SearchSpaceError, match="unknown search space 'nope'; available: .*smoke"):
        load_space("nope")


def test_unknown_distribution_is_named(tmp_path):
    path = _write(tmp_path, params={"optim.base_lr": {"distribution": "gaussian", "low": 0.1, "high": 1}})
    with pytest.raises(SearchSpaceError, match="params.optim.base_lr"):
        load_space(str(path))


def test_unknown_key_in_space_is_named(tmp_path):
    path = _write(tmp_path, trials=5)
    with pytest.raises(SearchSpaceError, match="trials: unknown key"):
        load_space(str(path))


def test_empty_range_is_named(tmp_path):
    path = _write(tmp_path, params={"optim.base_lr": {"distribution": "float", "low": 1.0, "high": 0.1}})
    with pytest.raises(SearchSpaceError, match="empty range: low=1.0 must be < high=0.1"):
        load_space(str(path))


def test_unknown_config_path_is_named(tmp_path):
    path = _write(tmp_path, params={"optim.learning_rate": {"distribution": "float", "low": 0.1, "high": 1}})
    with pytest.raises(SearchSpaceError, match="'optim.learning_rate' is not a config path"):
        load_space(str(path))


def test_invalid_choice_is_named(tmp_path):
    path = _write(tmp_path, params={"model.projector": {"distribution": "categorical", "choices": ["512-128", "x-y"]}})
    with pytest.raises(SearchSpaceError, match="'model.projector' value 'x-y' is not valid"):
        load_space(str(path))


def test_bad_starting_point_is_named(tmp_path):
    path = _write(tmp_path, params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1}},
                  points_to_evaluate=[{"optim.momentum": 0.5}])
    with pytest.raises(SearchSpaceError, match=r"sets \['optim.momentum'\]"):
        load_space(str(path))


def test_define_by_run_with_conditions(tmp_path):
    path = _write(tmp_path, params={
        "loss.method": {"distribution": "categorical", "choices": ["simclr", "vicreg"]},
        "loss.params.temperature": {"distribution": "float", "low": 0.05, "high": 0.5, "log": True,
                                    "when": {"loss.method": ["simclr"]}},
        "loss.params.cov_weight": {"distribution": "float", "low": 0.5, "high": 4.0,
                                   "when": {"loss.method": ["vicreg"]}},
    }, overrides={"loss.params": {}})
    space = load_space(str(path))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        space.define_by_run(trial)
        params = trial.params
        expected = {"simclr": "loss.params.temperature", "vicreg": "loss.params.cov_weight"}[params["loss.method"]]
        assert set(params) == {"loss.method", expected}
        cfg = space.trial_config(params)
        assert cfg.loss.method == params["loss.method"]
        seen.add(params["loss.method"])
        study.tell(trial, 0.0)
    assert seen == {"simclr", "vicreg"}


def test_resources_cannot_be_searched(tmp_path):
    path = _write(tmp_path, params={"resources.workers": {"distribution": "categorical", "choices": [1, 2]}})
    with pytest.raises(SearchSpaceError, match="'resources.workers' cannot be searched"):
        load_space(str(path))
