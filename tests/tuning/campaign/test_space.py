"""Search spaces: shipped ones load, bad ones fail early naming the entry, the
define-by-run function samples what the file says (conditions included)."""
import math

import optuna
import pytest
import yaml

from search_spaces import list_presets, list_spaces
from tuning.campaign.space import load_preset, load_space
from tuning.errors import SearchSpaceError


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
    with pytest.raises(SearchSpaceError, match="unknown key .trials."):
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


@pytest.mark.parametrize("where", ["params", "settings"])
def test_the_data_a_campaign_prepares_once_cannot_vary_between_trials(tmp_path, where):
    # The campaign writes its .beton files and draws select from the base config: a trial with its
    # own train_subset would log it and train on the base's (the first main part of the paper study did).
    subset = {"distribution": "categorical", "choices": [2000, 4000]}
    fields = {"params": {"data.train_subset": subset}} if where == "params" else {
        "params": {"loss.params.temperature": {"distribution": "categorical", "choices": [0.1, 0.2]}},
        "settings": [{"when": {"loss.params.temperature": [0.2]}, "set": {"data.select_per_class": 50}}]}
    path = _write(tmp_path, **fields)
    with pytest.raises(SearchSpaceError, match=r"data\.(train_subset|select_per_class).*the data it prepares once"):
        load_space(str(path))


TABLE_S6_PRESETS = {"vicreg-d256": ("vicreg", 256), "vicreg-d512": ("vicreg", 512), "vicreg-d1024": ("vicreg", 1024),
                    "vicreg-d2048": ("vicreg", 2048), "vicreg-d8192": ("vicreg", 8192),
                    "vicreg-exp": ("vicreg-exp", 2048), "vicreg-exp-d8192": ("vicreg-exp", 8192),
                    "vicreg-ctr": ("vicreg-ctr", 2048), "simclr-tuned": ("simclr", 8192)}


@pytest.mark.parametrize("preset", sorted(TABLE_S6_PRESETS))
def test_table_s5_cells_carry_table_s6_settings(preset):
    """Each 8192-8192-d cell of the table_s5 grid trains exactly as its Table S6 preset."""
    space = load_space("table_s5")
    method, d = TABLE_S6_PRESETS[preset]
    cell = space.trial_config({"loss.method": method, "model.projector": "8192-8192-d", "model.embedding_dim": d})
    expected = load_preset(preset)
    assert (cell.loss, cell.optim, cell.data.batch_size) == (expected.loss, expected.optim, expected.data.batch_size)
    assert space.num_samples == 80


def test_settings_rules_apply_in_order_and_see_earlier_rules(tmp_path):
    path = _write(tmp_path, sampler="grid", params={
        "loss.method": {"distribution": "categorical", "choices": ["simclr", "vicreg"]},
        "model.embedding_dim": {"distribution": "categorical", "choices": [64, 128]},
    }, overrides={"loss.params": {}, "model.projector": "256-d", "model.embedding_dim": 64}, settings=[
        {"when": {"loss.method": ["vicreg"]}, "set": {"optim.base_lr": 0.3, "loss.params": {"cov_weight": 2.0}}},
        {"when": {"loss.method": ["vicreg"], "model.embedding_dim": [128]}, "set": {"loss.params.cov_weight": 4.0}},
        {"when": {"optim.base_lr": [0.3]}, "set": {"optim.weight_decay": 1.0e-4}},  # sees rule 1's lr
    ])
    space = load_space(str(path))
    small = space.trial_config({"loss.method": "vicreg", "model.embedding_dim": 64})
    large = space.trial_config({"loss.method": "vicreg", "model.embedding_dim": 128})
    simclr = space.trial_config({"loss.method": "simclr", "model.embedding_dim": 128})
    assert (small.loss.params["cov_weight"], large.loss.params["cov_weight"]) == (2.0, 4.0)
    assert small.optim.base_lr == 0.3 and small.optim.weight_decay == 1e-4
    assert simclr.optim.base_lr == 0.5 and simclr.optim.weight_decay == 1e-6  # digits-simclr's own values
    assert "cov_weight" not in simclr.loss.params


@pytest.mark.parametrize("rule, message", [
    ({"when": {"loss.method": ["simclr"]}, "set": {"optim.lr": 0.1}},
     "settings rule 1: 'optim.lr' is not a config path"),
    ({"when": {"loss.kind": ["simclr"]}, "set": {"optim.base_lr": 0.1}},
     "settings rule 1: 'loss.kind' is not a config path"),
    ({"when": {"loss.method": ["simclr"]}, "set": {"loss.method": "vicreg"}},
     r"settings rule 1 sets \['loss.method'\], which the space searches"),
    ({"when": {"loss.method": ["vicreg"]}, "set": {"data.batch_size": 255}},
     "with its settings rules, {'loss.method': 'vicreg'} is not valid: .*batch_size=255 must be divisible"),
])
def test_bad_settings_rules_are_named(tmp_path, rule, message):
    path = _write(tmp_path, sampler="grid", overrides={"loss.params": {}},
                  params={"loss.method": {"distribution": "categorical", "choices": ["simclr", "vicreg"]}},
                  settings=[rule])
    with pytest.raises(SearchSpaceError, match=message):
        load_space(str(path))


def test_base_values_set_from_the_cli_apply_and_round_trip(tmp_path):
    space = load_space("smoke").with_base_values({"schedule.epochs": 7, "data.resolution": 24})
    cfg = space.trial_config({"loss.params.temperature": 0.2, "optim.base_lr": 0.4})
    assert (cfg.schedule.epochs, cfg.data.resolution, cfg.optim.base_lr) == (7, 24, 0.4)
    assert load_space("smoke").base_config().schedule.epochs == 4  # the shipped space is untouched
    path = tmp_path / "ran.yaml"
    path.write_text(space.to_yaml())
    again = load_space(str(path))
    assert again.model_dump(exclude={"source"}) == space.model_dump(exclude={"source"})


@pytest.mark.parametrize("values, message", [
    ({"optim.base_lr": 0.3}, r"searches \['optim.base_lr'\]; set only values it does not search"),
    ({"data.resolutoin": 64}, "unknown key 'data.resolutoin'"),
    ({"data.resolution": 7}, "data.resolution: Input should be greater than or equal to 8"),
])
def test_bad_base_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        load_space("smoke").with_base_values(values)


def test_simclr_orig_preset_is_simclrs_original_recipe():
    orig = load_preset("simclr-orig")
    assert (orig.loss.params["temperature"], orig.optim.base_lr, orig.data.batch_size) == (0.1, 0.3, 4096)
    assert (orig.model.projector, orig.model.embedding_dim, orig.optim.weight_decay) == ("2048-d", 128, 1e-6)
    assert orig.effective_lr() == pytest.approx(4.8) and orig.loss.gather == "summed"
    twin = load_preset("fmnist-simclr-orig")
    assert (twin.loss.params["temperature"], twin.optim.base_lr, twin.model.projector) == (0.1, 0.3, "128-d")


def test_a_variant_label_picks_a_whole_recipe():
    space = load_space("simclr_orig_vs_tuned")
    orig = space.trial_config({"variant": "SimCLR-Orig", "model.projector": "2048-d", "model.embedding_dim": 512})
    tuned = space.trial_config({"variant": "SimCLR-Tuned", "model.projector": "2048-d", "model.embedding_dim": 512})
    assert (orig.loss.params["temperature"], orig.optim.base_lr, orig.data.batch_size) == (0.1, 0.3, 4096)
    assert (tuned.loss.params["temperature"], tuned.optim.base_lr, tuned.data.batch_size) == (0.15, 0.5, 2048)
    assert orig.model.projector == tuned.model.projector == "2048-d" and space.num_samples == 40


def test_a_variant_label_must_be_categorical(tmp_path):
    path = _write(tmp_path, params={"variant": {"distribution": "float", "low": 0.1, "high": 1}})
    with pytest.raises(SearchSpaceError, match="'variant' is a label for recipes and must be categorical"):
        load_space(str(path))


def test_a_from_entry_splices_another_spaces_rules_in_place():
    fig_s6, table_s5 = load_space("figS6_projector"), load_space("table_s5")
    recipes = load_space("simclr_orig_vs_tuned")
    assert fig_s6.settings[4:] == table_s5.settings + recipes.settings and fig_s6.num_samples == 50
    cell = fig_s6.trial_config({"variant": "VICReg-exp", "model.projector": "2048-2048-d", "model.embedding_dim": 8192})
    assert (cell.loss.method, cell.optim.base_lr, cell.data.batch_size, cell.loss.params["cov_weight"]) == (
        "vicreg-exp", 0.8, 1024, 2.0)
    orig = fig_s6.trial_config({"variant": "SimCLR-Orig", "model.projector": "2048-2048-d", "model.embedding_dim": 512})
    assert (orig.loss.method, orig.loss.params["temperature"], orig.optim.base_lr, orig.data.batch_size) == (
        "simclr", 0.1, 0.3, 4096)  # the Orig recipe wins over Table S6's SimCLR row, which comes before it
    assert "from:" not in fig_s6.to_yaml() and load_space("table_s5_fmnist").settings == load_space(
        "table_s5_cpu").settings


@pytest.mark.parametrize("name,param,choices", [
    ("gather_ablation", "loss.gather", ["summed", "divided"]),
    ("gather_ablation_fmnist", "loss.gather", ["summed", "divided"]),
    ("fig2_normalization", "loss.params.normalization", ["embedding", "centering", "standardization"]),
    ("fig2_normalization_fmnist", "loss.params.normalization", ["embedding", "centering", "standardization"]),
    ("figS3_similarity", "loss.method", ["simclr", "simclr-sq", "simclr-abs"]),
    ("figS3_similarity_fmnist", "loss.method", ["simclr", "simclr-sq", "simclr-abs"]),
])
def test_study_spaces_vary_what_their_figure_varies(name, param, choices):
    space = load_space(name)
    assert space.sampler == "grid" and space.params[param].choices == choices
    first = {n: p.choices[0] for n, p in space.params.items()}
    configs = [space.trial_config({**first, param: choice}) for choice in choices]
    assert len({c.digest() for c in configs}) == len(choices)  # each choice trains something else


FIGURE_AXES = {  # what each figure of the paper varies
    "fig2_normalization": ("loss.params.normalization", "model.projector", "model.embedding_dim"),
    "figS3_similarity": ("loss.method", "model.projector", "model.embedding_dim"),
    "figS6_projector": ("variant", "model.projector", "model.embedding_dim"),
    "table_s5": ("loss.method", "model.projector", "model.embedding_dim"),
}


@pytest.mark.parametrize("name", [n for figure in FIGURE_AXES for n in (figure, f"{figure}_fmnist")])
def test_study_spaces_have_the_papers_axes(name):
    space = load_space(name)
    axes = FIGURE_AXES[name.removesuffix("_fmnist")]
    assert set(space.params) == set(axes)
    assert all(len(space.params[axis].choices) >= 2 for axis in axes)
    assert space.num_samples == math.prod(len(space.params[axis].choices) for axis in axes)


def test_the_gather_twin_runs_two_workers_so_the_bug_can_show():
    space = load_space("gather_ablation_fmnist")
    divided = space.trial_config({"loss.gather": "divided", "seed": 1})
    assert divided.resources.workers == 2 and divided.seed == 1
    assert "every gradient is divided by the world size (2 workers)" in divided.ablation_warning()
    assert space.trial_config({"loss.gather": "summed", "seed": 0}).ablation_warning() is None


def test_a_campaign_that_can_train_the_divided_gather_says_so_up_front(caplog):
    from tuning.campaign.search.driver import _warn_ablations

    with caplog.at_level("WARNING", logger="dualtune"):
        _warn_ablations(load_space("smoke"))
        assert not caplog.records
        _warn_ablations(load_space("gather_ablation_fmnist"))
    assert "footnote-1 DDP gather bug" in caplog.text and "(2 workers)" in caplog.text


def test_a_frozen_space_keeps_its_base_values_when_the_file_changes(tmp_path):
    from search_spaces import find_preset
    from tuning.campaign.space import SearchSpace

    base = tmp_path / "base.yaml"
    base.write_text(find_preset("digits-simclr").read_text())
    space = load_space(str(_write(tmp_path, base=str(base), overrides={"schedule.epochs": 2},
                                  params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1}})))
    frozen = space.frozen()
    assert frozen.base_changes() == {} and space.base_changes() == {}  # not frozen: nothing to compare
    edited = yaml.safe_load(base.read_text())
    edited["optim"]["weight_decay"] = 0.25
    edited["loss"]["params"]["temperature"] = 0.9
    base.write_text(yaml.safe_dump(edited))

    restored = SearchSpace.model_validate(frozen.model_dump(mode="json"))  # as the campaign state stores it
    trial = restored.trial_config({"optim.base_lr": 0.3})
    assert (trial.optim.weight_decay, trial.optim.base_lr, trial.schedule.epochs) == (1e-6, 0.3, 2)
    assert space.trial_config({"optim.base_lr": 0.3}).optim.weight_decay == 0.25  # unfrozen: reads the file
    assert restored.base_changes() == {"loss.params.temperature": (0.15, 0.9), "optim.weight_decay": (1e-6, 0.25)}
    assert "base_values" not in yaml.safe_load(restored.to_yaml())  # the space as written, not its frozen base
    base.unlink()
    assert restored.base_changes() == {} and restored.base_config().optim.weight_decay == 1e-6


@pytest.mark.parametrize("scheduler", ["asha", "fifo"])
def test_no_search_may_rank_by_a_test_score_and_the_select_twin_is_named(tmp_path, scheduler):
    params = {"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1}}
    for metric, twin in (("linear_probe_test_top1", "linear_probe_select_top1"), ("knn_test_top1", "knn_select_top1")):
        with pytest.raises(SearchSpaceError, match=f"'{metric}' is scored on the test split, which no choice may "
                                                   f"read .* its select twin is '{twin}'"):
            load_space(str(_write(tmp_path, metric=metric, params=params, scheduler={"type": scheduler})))


def test_a_frozen_feature_metric_needs_its_bank(tmp_path):
    assert load_space(str(_write(tmp_path, metric="frozen_ridge_select_top1"))).metric == "frozen_ridge_select_top1"
    with pytest.raises(SearchSpaceError, match="'frozen_knn_select_top1' is computed on a bank of frozen features, "
                                               "which probe.rung_bank_images=0 turns off"):
        load_space(str(_write(tmp_path, metric="frozen_knn_select_top1", overrides={"probe.rung_bank_images": 0})))


def test_a_metric_the_loop_does_not_report_is_refused_with_the_nearest_names(tmp_path):
    with pytest.raises(SearchSpaceError, match=r"metric 'online_top_1' is not a key the training loop reports "
                                               r"\(did you mean .*'online_select_top1'"):
        load_space(str(_write(tmp_path, metric="online_top_1")))


def test_asha_cannot_rank_rungs_by_a_metric_reported_only_after_the_last_epoch(tmp_path):
    params = {"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1}}
    with pytest.raises(SearchSpaceError, match="'linear_probe_select_top1' is reported only after the last epoch"):
        load_space(str(_write(tmp_path, metric="linear_probe_select_top1", params=params)))
    fifo = load_space(str(_write(tmp_path, metric="linear_probe_select_top1", params=params,
                                 scheduler={"type": "fifo"})))
    assert fifo.metric == "linear_probe_select_top1"
    assert load_space(str(_write(tmp_path, metric="loss_invariance", mode="min", params=params))).mode == "min"


ORDINAL_LRS = [0.05, 0.158, 0.5, 1.58, 5.0]


def test_an_ordinal_parameter_is_sampled_by_index_and_configured_by_value(tmp_path):
    path = _write(tmp_path, params={"optim.base_lr": {"distribution": "ordinal", "values": ORDINAL_LRS}},
                  points_to_evaluate=[{"optim.base_lr": 0.5}])
    space = load_space(str(path))
    assert space.optuna_point({"optim.base_lr": 0.5}) == {"optim.base_lr@index": 2}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        trial = study.ask()
        constants = space.define_by_run(trial)
        index = trial.params["optim.base_lr@index"]
        assert isinstance(trial.distributions["optim.base_lr@index"], optuna.distributions.IntDistribution)
        assert constants == {"optim.base_lr": ORDINAL_LRS[index]}
        assert space.trial_config({**trial.params, **constants}).optim.base_lr == ORDINAL_LRS[index]
        study.tell(trial, 0.0)


def test_an_ordinal_starting_point_off_its_values_is_named(tmp_path):
    path = _write(tmp_path, params={"optim.base_lr": {"distribution": "ordinal", "values": ORDINAL_LRS}},
                  points_to_evaluate=[{"optim.base_lr": 0.3}])
    with pytest.raises(SearchSpaceError, match=r"starting point's optim.base_lr=0.3 is not one of its ordinal "
                                               r"values \[0.05, 0.158, 0.5, 1.58, 5.0\]"):
        load_space(str(path))
