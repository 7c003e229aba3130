"""The strict config: errors name the key, and what dump writes, load reads back."""
import re

import pytest

from tuning.config import (
    ConfigError,
    PretrainConfig,
    dump_config,
    flatten,
    load_config,
    parse_assignments,
    validate_config,
    with_overrides,
)


def test_defaults_are_valid_and_effective_lr_scales_with_batch():
    cfg = validate_config({"data": {"batch_size": 2048}, "optim": {"base_lr": 0.5}, "resources": {"workers": 8}})
    assert cfg.effective_lr() == 4.0
    assert cfg.loss.params == {"temperature": 0.15, "normalization": "embedding"}
    sqrt_rule = validate_config({"data": {"batch_size": 256}, "optim": {"base_lr": 0.075, "lr_scaling": "sqrt"}})
    assert sqrt_rule.effective_lr() == pytest.approx(1.2)  # SimCLR's 0.075 * sqrt(256)
    with pytest.raises(ConfigError, match="lr_scaling"):
        validate_config({"optim": {"lr_scaling": "cubic"}})


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError, match="unknown key 'optimiser'"):
        validate_config({"optimiser": {"base_lr": 1.0}})


def test_unknown_nested_key_is_named():
    with pytest.raises(ConfigError, match="unknown key 'optim.lr'"):
        validate_config({"optim": {"lr": 1.0}})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"optim.base_lr: .*\(got 'fast'\)"):
        validate_config({"optim": {"base_lr": "fast"}})


def test_out_of_range_value_is_named():
    with pytest.raises(ConfigError, match="schedule.epochs"):
        validate_config({"schedule": {"epochs": 0}})


def test_malformed_projector_is_named():
    with pytest.raises(ConfigError, match="malformed projector spec '8192-x'"):
        validate_config({"model": {"projector": "8192-x"}})


def test_unknown_method_is_named():
    with pytest.raises(ConfigError, match="unknown method 'moco'.*allowed:.*vicreg"):
        validate_config({"loss": {"method": "moco"}})


def test_loss_params_must_belong_to_the_method():
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['temperature'\] for method 'vicreg'"):
        validate_config({"loss": {"method": "vicreg", "params": {"temperature": 0.1}}})


def test_batch_must_split_over_workers():
    with pytest.raises(ConfigError, match="batch_size=255 must be divisible by resources.workers=2"):
        validate_config({"data": {"batch_size": 255}, "resources": {"workers": 2}})


@pytest.mark.parametrize("train, test", [("in.beton", "digits"), ("digits", "in_test.beton"),
                                         ("digits", "fashion-mnist")])
def test_bundled_and_other_data_do_not_mix(train, test):
    with pytest.raises(ConfigError, match=f"data.train={train!r} and data.test={test!r} mix a bundled data set"):
        validate_config({"data": {"train": train, "test": test}})
    assert validate_config({"data": {"train": "a.beton", "test": "b.beton"}}).data.test == "b.beton"
    bundled = validate_config({"data": {"train": "fashion-mnist", "test": "fashion-mnist"}}).data
    assert bundled.bundled == "fashion-mnist"


@pytest.mark.parametrize("old, new", [("data.val", "data.test"), ("probe.holdout_fraction", "data.select_per_class"),
                                      ("probe.online_val_images", "data.select_per_class")])
def test_a_key_of_an_older_config_names_what_took_its_place(old, new):
    section, key = old.split(".")
    with pytest.raises(ConfigError, match=f"key '{old}' is now {new} "):
        validate_config({section: {key: 1}})


def test_a_train_subset_needs_bundled_data():
    with pytest.raises(ConfigError, match="data.train_subset=600 applies to bundled data only"):
        validate_config({"data": {"train": "a.beton", "test": "b.beton", "train_subset": 600}})
    assert validate_config({"data": {"train_subset": 600}}).data.train_subset == 600


def test_yaml_round_trip(tmp_path):
    cfg = validate_config({"loss": {"method": "vicreg-exp", "params": {"cov_weight": 4}},
                           "model": {"projector": "2048-d", "embedding_dim": 256}, "seed": 3})
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(cfg, header="campaign: x\ntrial_id: y"))
    assert path.read_text().startswith("# campaign: x\n# trial_id: y\n")
    again = load_config(path)
    assert again == cfg and again.digest() == cfg.digest()
    assert flatten(again.model_dump(mode="json")) == flatten(cfg.model_dump(mode="json"))


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        load_config(path)


def test_overrides_set_dotted_paths_without_touching_the_base():
    base = PretrainConfig().model_dump(mode="json")
    tree = with_overrides(base, {"loss.params.temperature": 0.5, "optim.base_lr": 2.0})
    assert tree["loss"]["params"]["temperature"] == 0.5 and tree["optim"]["base_lr"] == 2.0
    assert base["optim"]["base_lr"] == 0.3


def test_sync_batchnorm_on_cpu_workers_is_refused():
    with pytest.raises(ConfigError, match="sync_batchnorm=true needs CUDA workers"):
        validate_config({"model": {"sync_batchnorm": True}})


def test_table_s6_presets_carry_the_papers_hyperparameters():
    from tuning.campaign.space import load_preset

    simclr = load_preset("simclr-tuned")
    assert (simclr.data.batch_size, simclr.optim.base_lr, simclr.loss.params["temperature"]) == (2048, 0.5, 0.15)
    assert simclr.effective_lr() == 4.0 and simclr.optim.name == "lars" and simclr.optim.weight_decay == 1e-6
    assert simclr.model.projector == "8192-8192-d" and simclr.model.embedding_dim == 8192
    covs = {d: load_preset(f"vicreg-d{d}").loss.params["cov_weight"] for d in (256, 512, 1024, 2048, 8192)}
    assert covs == {256: 4.0, 512: 2.0, 1024: 2.0, 2048: 2.0, 8192: 0.5}
    assert load_preset("vicreg-exp-d8192").optim.base_lr == 0.8 and load_preset("vicreg-exp").optim.base_lr == 0.5
    ctr = load_preset("vicreg-ctr")
    assert (ctr.optim.base_lr, ctr.loss.params["temperature"], ctr.data.batch_size) == (0.6, 0.15, 1024)


def test_set_assignments_are_typed_as_yaml():
    parsed = parse_assignments(["data.resolution=224", "probe.knn=false", "optim.base_lr=0.5", "model.projector=2048-d",
                                "loss.params.temperature = 0.1", "model.embedding_dim="])
    assert parsed == {"data.resolution": 224, "probe.knn": False, "optim.base_lr": 0.5, "model.projector": "2048-d",
                      "loss.params.temperature": 0.1, "model.embedding_dim": None}


@pytest.mark.parametrize("bad, message", [("data.resolution", "is not KEY=VALUE"), ("=3", "is not KEY=VALUE"),
                                          ("model.projector=[1, 2", "the value is not valid YAML")])
def test_malformed_set_assignments_are_named(bad, message):
    with pytest.raises(ConfigError, match=f"--set '{re.escape(bad)}'.*{message}"):
        parse_assignments([bad])


def test_augmentations_are_table_s1_by_default_strict_and_reach_both_views():
    first, second = validate_config({}).data.augment.views()
    assert (first.blur_p, second.blur_p, first.solarize_p, second.solarize_p) == (1.0, 0.1, 0.0, 0.2)
    assert (first.jitter_p, first.brightness, first.saturation, first.hue, first.grayscale_p) == (0.8, 0.4, 0.2, 0.1,
                                                                                                   0.2)
    assert first.blur_sigma == second.blur_sigma == (0.1, 2.0)
    tuned = validate_config({"data": {"augment": {"hue": 0.05, "solarize_p_view2": 0.0}}}).data.augment.views()
    assert tuned[0].hue == tuned[1].hue == 0.05 and tuned[1].solarize_p == 0.0
    with pytest.raises(ConfigError, match="unknown key 'data.augment.jiter_p'.*did you mean 'data.augment.jitter_p'"):
        validate_config({"data": {"augment": {"jiter_p": 0.5}}})
    with pytest.raises(ConfigError, match="data.augment.hue: Input should be less than or equal to 0.5"):
        validate_config({"data": {"augment": {"hue": 0.7}}})
    with pytest.raises(ConfigError, match="blur_sigma_min=3.0 must not exceed blur_sigma_max=2.0"):
        validate_config({"data": {"augment": {"blur_sigma_min": 3.0}}})


def test_an_augmentation_is_searchable_like_any_config_value():
    from tuning.campaign.space import SearchSpace

    space = SearchSpace(name="aug", base="digits-simclr",
                        params={"data.augment.jitter_p": {"distribution": "float", "low": 0.0, "high": 1.0}})
    space.check()
    assert space.trial_config({"data.augment.jitter_p": 0.3}).data.augment.jitter_p == 0.3
    assert space.trial_config({}).data.augment.crop_scale_min == 0.25  # the preset's own value kept


@pytest.mark.parametrize("gpus, workers, refused", [(0.5, 2, True), (1.5, 2, True), (0.5, 1, False), (1, 4, False),
                                                    (2, 2, False), (0, 2, False)])
def test_fractional_gpus_are_refused_with_several_workers(gpus, workers, refused):
    config = {"resources": {"workers": workers, "gpus_per_worker": gpus}, "data": {"batch_size": 256}}
    if refused:
        with pytest.raises(ConfigError, match=rf"resources.gpus_per_worker={gpus} with resources.workers={workers}"):
            validate_config(config)
    else:
        assert validate_config(config).resources.gpus_per_worker == gpus
