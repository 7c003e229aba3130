"""Studies: the shipped one is checked before compute and spells out each variant; a tiny
study runs for real, part by part (tune, then variants x seeds on 2 DDP workers, then a figure),
each part's outcome saved in the results folder, and its report reads them back."""
import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tuning.campaign.search.driver import CampaignOptions
from tuning.config import load_config
from tuning.errors import ConfigError, SearchSpaceError
from tuning.reproduction.parts import outcome_path, run_part, saved_parts
from tuning.reproduction.report import write_report
from tuning.reproduction.reruns import (
    StudyOutcome,
    TuneOutcome,
    load_study,
    run_analyses,
    run_study,
    run_tuning,
)
from tuning.run import reports


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


def test_an_outcome_saved_by_an_older_dualtune_is_refused_naming_what_it_lacks(tmp_path):
    old = tmp_path / "main.json"
    old.write_text(json.dumps({"study": "paper_fmnist", "reruns": [], "arms": []}))
    with pytest.raises(SearchSpaceError, match=r"main.json was written by an older dualtune \(it lacks analysis, "
                                               r"baselines.*rerun that part"):
        StudyOutcome.load(old)


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


@pytest.mark.slow
def test_a_tiny_study_runs_reruns_and_reports(ray_cluster, tmp_path):
    space = tmp_path / "tune.yaml"
    space.write_text(yaml.safe_dump({
        "name": "tiny_tune", "base": "digits-simclr", "num_samples": 1, "scheduler": {"type": "fifo"},
        "overrides": {"schedule.epochs": 1, "probe.offline_epochs": 2, "probe.knn": False,
                      "resources.workers": 1},
        "params": {"loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5}}}))
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({
        "name": "tiny_grid", "description": "a two-cell figure", "base": "digits-simclr", "sampler": "grid",
        "scheduler": {"type": "fifo"}, "max_concurrent_trials": 2,
        "overrides": {"schedule.epochs": 1, "probe.offline_epochs": 2, "probe.knn": False, "resources.workers": 1},
        "params": {"loss.params.temperature": {"distribution": "categorical", "choices": [0.1, 0.3]}}}))
    study = load_study(_write(
        tmp_path, description="tiny", seeds=[1],
        tune={"arms": {"T": str(space)}, "num_samples": 1, "scheduler": {"type": "fifo"}},
        rerun={"resources.workers": 2, "schedule.epochs": 1, "probe.offline_epochs": 2, "probe.knn": False},
        variants={"Orig": {"base": "digits-simclr", "set": {"loss.params.temperature": 0.1},
                           "paper_row": "SimCLR-Orig"},
                  "Tuned-divided": {"base": "tuned:T", "set": {"loss.gather": "divided"}}},
        parts={"grid": str(grid)}))
    options, results = CampaignOptions(runs_dir=tmp_path / "runs"), tmp_path / "docs" / "reproduction"
    results.mkdir(parents=True)
    with pytest.raises(SearchSpaceError, match="run `dualtune study s --part tune` first"):
        run_study(study, options, results, announce=lambda _: None)
    tuning = run_tuning(study, options, results, announce=lambda _: None)
    outcome = run_study(study, options, results, announce=lambda _: None)
    part = run_part(study, "grid", options, results, announce=lambda _: None)

    assert sorted((r.variant, r.seed, r.status) for r in outcome.reruns) == [
        ("Orig", 1, "completed"), ("Tuned-divided", 1, "completed")]
    assert TuneOutcome.load(outcome_path(results, "tune")) == tuning
    assert StudyOutcome.load(outcome_path(results, "main")) == outcome
    assert [(a.arm, a.trials, a.completed, a.epochs) for a in outcome.arms] == [("T", 1, 1, 1)]
    tuned = load_config(options.runs.campaign_dir(outcome.arms[0].campaign) / "best_config.yaml")
    assert tuning.tuned == {"T": tuned}
    for r in outcome.reruns:  # what each rerun trained: its variant's config, its seed
        trained = json.loads((Path(r.checkpoint) / "config.json").read_text())
        assert trained["seed"] == r.seed and trained["resources"]["workers"] == 2
        if r.variant == "Tuned-divided":
            assert trained["loss"] == {**tuned.loss.model_dump(mode="json"), "gather": "divided"}
        else:
            assert trained["loss"]["params"]["temperature"] == 0.1 and trained["loss"]["gather"] == "summed"
    client = MlflowClient(outcome.tracking_uri)
    params = {r.run_id: client.get_run(r.run_id).data.params for r in outcome.reruns}
    assert {(p["variant"], p["seed"], p["loss.gather"]) for p in params.values()} == {
        ("Orig", "1", "summed"), ("Tuned-divided", "1", "divided")}

    assert sorted(c.values["loss.params.temperature"] for c in part.cells) == [0.1, 0.3]
    assert all(c.status == "completed" and c.linear_probe_test_top1 is not None for c in part.cells)
    assert saved_parts(results, study.name, list(study.parts)) == [part]
    report = write_report(outcome, tmp_path / "docs" / "reproduction.md", saved_parts(results, study.name, ["grid"]),
                          pending=["later"])
    text = report.read_text()
    assert "Not yet run, so neither shown nor judged: `later`." in text
    best = part.best()
    assert f"- loss.params.temperature={best.values['loss.params.temperature']}: " \
           f"{best.linear_probe_test_top1:.2f}" in text and "### Part `grid`: a two-cell figure" in text
    assert "| Orig | 66.02 (8192-8192-2048) |" in text and "| Tuned-divided | - |" in text and "1/1 |" in text
    pixels = outcome.baselines[reports.baseline_key("raw_pixels", reports.LINEAR_PROBE_TEST_TOP1)]
    assert f"| raw pixels (baseline) | - | {pixels:.2f} |" in text and "| untrained network | - |" in text
    assert "## What held, what did not, what we cannot tell at this scale" in text
    assert "**The footnote-1 gather bug hurts**" not in text  # no part with a gather axis
    assert outcome.analysis.names == ["Orig", "Tuned-divided"] and outcome.analysis.seeds == [1, 1]
    assert (results / "cka.png").is_file() and "![cka](reproduction/cka.png)" in text
    orig = next(r for r in outcome.reruns if r.variant == "Orig")
    analysed = client.get_run(orig.run_id).data.metrics
    assert analysed["analysis/embedding_dim"] == 128 and analysed["analysis/images"] > 100  # all of digits val
    assert analysed["analysis/spectrum_images"] > 100  # train images fitted on

    # the analyses again, without the reruns: the analysed seed retrained, main.json's table untouched
    again = run_analyses(study, options, results, announce=lambda _: None)
    assert StudyOutcome.load(outcome_path(results, "main")) == again and again.reruns == outcome.reruns
    assert again.analysis.names == ["Orig", "Tuned-divided"] and again.analysis.retrained_in.startswith("s-analyses")
    assert len(again.analysis.retrained_top1) == 2 and None not in again.analysis.retrained_top1
    text = write_report(again, tmp_path / "docs" / "reproduction.md").read_text()
    assert f"were retrained by `--part analyses` (campaign `{again.analysis.retrained_in}`)" in text
    assert f"Orig {again.analysis.retrained_top1[0]:.2f} ({orig.linear_probe_test_top1:.2f})" in text
