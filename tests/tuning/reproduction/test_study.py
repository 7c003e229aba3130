"""Studies: the shipped one is checked before compute and spells out each variant, its arms share
one budget and its figure parts train at its scale; bad studies, parts and paper rows are refused
before any compute."""
import itertools
from pathlib import Path

import pytest
import yaml

from tuning.config import validate_config, with_overrides
from tuning.errors import ConfigError, SearchSpaceError
from tuning.reproduction.outcomes import CellOutcome, PartOutcome, TuneOutcome
from tuning.reproduction.paper_table import TABLE_S5, PaperCell
from tuning.reproduction.study import load_study


def test_the_paper_study_spells_out_every_variant():
    study = load_study("paper-fmnist")
    tuned = study.stand_ins()
    space = study.reruns_space(tuned)
    assert space.num_samples == 7 * 5 and space.params["seed"].choices == [0, 1, 2, 3, 4]
    configs = {v: space.trial_config({"variant": v, "seed": 2}) for v in study.variants}
    assert all(c.resources.workers == 1 and c.seed == 2 for c in configs.values())  # as the arms were tuned
    # the study's scale is the campaign's base, so its progress line counts the epochs trials train and
    # its baselines (measured on the base config) are on the data every rerun trains and probes on
    base = space.base_config()
    assert base.schedule.epochs == 4 == configs["SimCLR-Orig"].schedule.epochs
    assert base.data == configs["SimCLR-Orig"].data and base.data.train_subset == 20000
    assert "schedule.epochs" not in space.settings[0].set and "optim.base_lr" in space.settings[0].set
    assert configs["VICReg"].loss.method == "vicreg" and configs["VICReg-ctr"].loss.method == "vicreg-ctr"
    assert configs["SimCLR-Orig"].loss.params["temperature"] == 0.1 and configs["SimCLR-Orig"].effective_lr() == 0.3
    assert configs["SimCLR-Orig-sqrt-lr"].effective_lr() == pytest.approx(1.2)  # SimCLR's 0.075 * sqrt(256)
    at_tuned = configs["SimCLR-Orig-tuned-projector"]
    assert (at_tuned.model.projector, at_tuned.model.embedding_dim) == (
        configs["SimCLR-Tuned"].model.projector, configs["SimCLR-Tuned"].model.embedding_dim)
    assert all(c.loss.gather == "summed" for c in configs.values())
    cells = study.paper_cells(tuned)
    assert cells["SimCLR-Orig"].projector == "2048-d"


def test_the_paper_studys_gather_part_has_a_world_size_and_the_studys_seeds():
    study = load_study("paper-fmnist")
    space = study.part_space("gather")
    assert space.params["seed"].choices == study.seeds
    summed, divided = (space.trial_config({"loss.gather": g, "seed": 3}) for g in ("summed", "divided"))
    assert summed.resources.workers == 2 and summed.data.train_subset == study.scale["data.train_subset"]
    assert divided.loss.gather == "divided" and summed.loss.gather == "summed"
    assert divided.model_copy(update={"loss": summed.loss}) == summed  # the gather is the only difference


def test_the_tuning_arms_share_one_budget():
    study = load_study("paper-fmnist")
    arms = {arm: study.arm_space(arm) for arm in study.tune.arms}
    assert set(arms) == {"SimCLR", "VICReg", "VICReg-exp", "VICReg-ctr"}
    shared = {(s.num_samples, s.sampler, s.scheduler.model_dump_json(), s.metric, s.base_config().schedule.epochs,
               s.base_config().data.train_subset) for s in arms.values()}
    assert len(shared) == 1  # the same trials, sampler, scheduler, rung metric, epochs and data for every arm
    methods = {arm: s.base_config().loss.method for arm, s in arms.items()}
    assert methods == {"SimCLR": "simclr", "VICReg": "vicreg", "VICReg-exp": "vicreg-exp",
                       "VICReg-ctr": "vicreg-ctr"}
    assert all({"optim.base_lr", "model.projector", "model.embedding_dim"} <= set(s.params) for s in arms.values())


def _write(tmp_path, **study):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "seeds": [0], **study}))
    return str(path)

@pytest.mark.parametrize("study,message", [
    ({"variants": {"A": {"base": "digits-simclr", "set": {"optim.base_lr": -1}}}}, "variant 'A'.*optim.base_lr"),
    ({"variants": {"A": {"base": "tuned:X"}}}, "variant 'A' uses base 'tuned:X' but the study tunes no arm"),
    ({"variants": {"A": {"base": "digits-simclr", "paper_row": "SimCLR-Best"}}}, "paper_row"),
    ({"variants": {"A": {"base": "digits-simclr"}}, "seeds": []}, "seeds"),
    ({"variants": {"A": {"base": "nope"}}}, "unknown preset 'nope'"),
    ({"variants": {"A": {"base": "digits-simclr"}, "B": {"base": "fmnist-simclr"}}},
     "its variants ask for different resources"),
])
def test_bad_studies_are_refused_before_compute(tmp_path, study, message):
    with pytest.raises((SearchSpaceError, ConfigError), match=message):
        load_study(_write(tmp_path, **study))


def test_an_unknown_study_suggests_the_nearest():
    with pytest.raises(SearchSpaceError, match="unknown study 'paper-fmnst' .did you mean 'paper_fmnist'"):
        load_study("paper-fmnst")


def _study(tmp_path, parts, paper_rows=None):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "seeds": [0], "variants": {"A": {"base": "digits-simclr"}},
                                    "parts": parts, "paper_rows": paper_rows or {}}))
    return str(path)

ROWS = {"vicreg": "VICReg", "vicreg-exp": "VICReg-exp", "vicreg-ctr": "VICReg-ctr", "simclr": "SimCLR-Tuned"}

@pytest.mark.parametrize("parts,paper_rows,message", [
    ({"main": "smoke"}, None, "'main' names a part of its own"),
    ({"tune": "smoke"}, None, "'tune' names a part of its own"),
    ({"fig2": "no_such_space"}, None, "unknown search space 'no_such_space'"),
    ({"s5": "table_s5_cpu"}, {"s6": ROWS}, "paper_rows names 's6', which is not one of its figure parts .s5."),
    ({"fig2": "fig2_normalization_fmnist"}, {"fig2": ROWS}, "part 'fig2' has paper_rows but does not vary "
                                                            "loss.method; a Table S5 cell is named by"),
    ({"s5": "table_s5_cpu"}, {"s5": {"vicreg": "VICReg"}}, "paper_rows name the methods .'vicreg'.; its space "
                                                           "varies loss.method over .'simclr', 'vicreg', "),
    ({"s5": "table_s5_cpu"}, {"s5": {**ROWS, "simclr": "SimCLR-Best"}}, "paper_rows"),
])
def test_bad_parts_are_refused_before_compute(tmp_path, parts, paper_rows, message):
    with pytest.raises(SearchSpaceError, match=message):
        load_study(_study(tmp_path, parts, paper_rows))


def test_the_paper_studys_table_s5_cells_each_sit_beside_the_papers_cell():
    study = load_study("paper-fmnist")
    params = study.part_space("table_s5").params
    grid = list(itertools.product(*(params[a].choices for a in ("loss.method", "model.projector",
                                                                 "model.embedding_dim"))))
    cells = [CellOutcome({"loss.method": m, "model.projector": p, "model.embedding_dim": d}, "completed",
                         80.0, 80.0, 80.0, 1.0) for m, p, d in grid]
    outcome = PartOutcome("paper_fmnist", "table_s5", "table_s5_fmnist", "", "c", "f", "", 0.0,
                          ["loss.method", "model.projector", "model.embedding_dim"], cells, probe_crop=1.0)
    matched = study.part_paper_cells(outcome)
    assert len(matched) == 16 and None not in matched
    by_shape = {(m, p, d): cell for (m, p, d), cell in zip(grid, matched)}
    # 512-512-d at d = 128 is the paper's 8192-8192-d at d = 2048 (x16); SimCLR's Table S6 recipe is SimCLR-Tuned
    assert by_shape["vicreg", "512-512-d", 128] == PaperCell("VICReg", "8192-8192-d", 2048, 68.07)
    assert by_shape["simclr", "128-128-d", 512] == PaperCell("SimCLR-Tuned", "2048-2048-d", 8192,
                                                             TABLE_S5["SimCLR-Tuned"]["2048-2048-d"][4])
    fig2 = PartOutcome("paper_fmnist", "fig2", "fig2_normalization_fmnist", "", "c", "f", "", 0.0, ["d"], [],
                       probe_crop=1.0)
    assert study.part_paper_cells(fig2) is None  # fig2 names no paper rows


def test_the_paper_study_has_a_part_per_figure():
    study = load_study("paper-fmnist")
    assert study.part_names() == ["tune", "main", "fig2", "figS3", "figS6", "table_s5", "gather"]
    spaces = {p: study.part_space(p) for p in study.parts}
    assert {s.name for s in spaces.values()} == {
        "fig2_normalization_fmnist", "figS3_similarity_fmnist", "figS6_projector_fmnist", "table_s5_fmnist",
        "gather_ablation_fmnist"}
    scale = study.scale
    for space in spaces.values():  # every cell trains at the study's scale, as its main table does
        data, epochs = space.base_config().data, space.base_config().schedule.epochs
        assert (data.train_subset, data.select_per_class, epochs) == (
            scale["data.train_subset"], scale["data.select_per_class"], scale["schedule.epochs"])
    with pytest.raises(SearchSpaceError, match="no figure part 'fig9'; its parts: tune, main, fig2"):
        study.part_space("fig9")


def test_each_arms_search_is_described_and_a_best_config_on_its_start_point_is_told():
    study = load_study("paper-fmnist")
    shipped = TuneOutcome.load(Path(__file__).parents[3] / "docs" / "reproduction" / "tune.json")
    searches = study.arm_searches(shipped.tuned)
    assert {arm: len(s.params) for arm, s in searches.items()} == {"SimCLR": 4, "VICReg": 6, "VICReg-exp": 5,
                                                                    "VICReg-ctr": 5}
    assert searches["SimCLR"].params["optim.base_lr"] == "0.05-5 (log)"
    assert searches["VICReg"].params["model.embedding_dim"] == "32 / 128 / 512"
    # the rerun of 2026-12-06: every arm moved off its start point (the previous run kept VICReg-ctr's)
    assert {arm: s.kept_start for arm, s in searches.items()} == {"SimCLR": False, "VICReg": False,
                                                                   "VICReg-exp": False, "VICReg-ctr": False}
    assert not any(s.kept_start for s in study.arm_searches(study.stand_ins()).values())  # base configs: no start
    # an arm whose best is its start point (the space's first point) is told so; one value off is not
    start = study.arm_space("VICReg-ctr").points_to_evaluate[0]
    base = study.stand_ins()["VICReg-ctr"].model_dump(mode="json")
    kept = validate_config(with_overrides(base, start))
    nudged = validate_config(with_overrides(base, {**start, "optim.base_lr": start["optim.base_lr"] * 1.5}))
    assert study.arm_searches({**shipped.tuned, "VICReg-ctr": kept})["VICReg-ctr"].kept_start
    assert not study.arm_searches({**shipped.tuned, "VICReg-ctr": nudged})["VICReg-ctr"].kept_start


@pytest.mark.parametrize("text,message", [("name: [s", "is not valid YAML"), ("- a list", "must be a YAML mapping")])
def test_a_study_file_that_is_no_yaml_mapping_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SearchSpaceError, match=f"study '{path}' {message}"):
        load_study(str(path))
