"""The CLI refuses bad input early, with a message naming the bad value."""
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tuning.cli import app

runner = CliRunner()
ROOT = Path(__file__).parents[2]


def test_pretrain_needs_exactly_one_source():
    out = runner.invoke(app, ["pretrain"])
    assert out.exit_code == 2 and "exactly one of --config FILE or --preset NAME" in out.output


def test_spaces_lists_descriptions():
    out = runner.invoke(app, ["spaces"])
    assert out.exit_code == 0 and "smoke:" in out.output and "digits-simclr" in out.output


def test_a_missing_config_file_is_named_as_missing(tmp_path):
    out = runner.invoke(app, ["pretrain", "--config", str(tmp_path / "missing.yaml"), "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2 and "does not exist" in out.output and "unknown preset" not in out.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_unknown_config_key_suggests_the_nearest_known_ones(tmp_path):
    out = runner.invoke(app, ["pretrain", "--preset", "digits-simclr", "--set", "optim.base_l=0.3",
                              "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2 and "unknown key 'optim.base_l'" in out.output and "'optim.base_lr'" in out.output
    assert "data.loader_workers" not in out.output  # not a list of every path


def test_an_unknown_preset_suggests_the_nearest(tmp_path):
    out = runner.invoke(app, ["pretrain", "--preset", "digits-simclrr", "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2 and "unknown preset 'digits-simclrr' (did you mean 'digits-simclr'" in out.output


def test_an_unknown_study_part_is_refused_naming_the_parts(tmp_path):
    out = runner.invoke(app, ["study", "paper-fmnist", "--part", "fig9", "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2 and "--part 'fig9'" in out.output
    assert "tune, main, fig2, figS3, figS6, table_s5, gather, all (each in order) and analyses" in " ".join(
        out.output.split())
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_the_analyses_part_is_refused_without_the_main_part_or_after_its_recipes_changed(tmp_path):
    report = tmp_path / "docs" / "reproduction.md"
    results = tmp_path / "docs" / "reproduction"
    results.mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "reproduction" / "tune.json", results)
    args = ["--part", "analyses", "--runs-dir", str(tmp_path / "runs"), "--report", str(report)]
    out = runner.invoke(app, ["study", "paper-fmnist", *args])
    assert out.exit_code == 2 and "run `dualtune study paper_fmnist --part main` first" in " ".join(out.output.split())

    shutil.copy(ROOT / "docs" / "reproduction" / "main.json", results)  # shipped: rerun with the study's recipes
    from tuning.reproduction.study import load_study, saved_main
    assert saved_main(load_study("paper-fmnist"), results).study == "paper_fmnist"
    study = yaml.safe_load((ROOT / "search_spaces" / "studies" / "paper_fmnist.yaml").read_text())
    study["variants"]["SimCLR-Orig"]["set"] = {"optim.base_lr": 0.5}
    changed = tmp_path / "paper_fmnist.yaml"
    changed.write_text(yaml.safe_dump(study))
    out = runner.invoke(app, ["study", str(changed), *args])
    assert out.exit_code == 2 and "variants SimCLR-Orig were rerun with other configs" in " ".join(out.output.split())
    assert not (tmp_path / "runs").exists()  # refused before any compute or folder


def test_the_main_part_before_the_tune_part_is_refused_naming_it(tmp_path):
    report = tmp_path / "docs" / "reproduction.md"
    out = runner.invoke(app, ["study", "paper-fmnist", "--part", "main", "--runs-dir", str(tmp_path / "runs"),
                              "--report", str(report)])
    assert out.exit_code == 2
    assert "run `dualtune study paper_fmnist --part tune` first" in " ".join(out.output.split())
    assert list(tmp_path.iterdir()) == []  # refused before any compute or folder


def test_version_prints_the_installed_version():
    import importlib.metadata

    out = runner.invoke(app, ["--version"])
    assert out.exit_code == 0 and out.output == f"dualtune {importlib.metadata.version('dualtune')}\n"


def test_spaces_show_redirected_to_a_file_loads_as_the_same_space(tmp_path):
    from search_spaces import list_spaces
    from tuning.campaign.space import load_space

    for name in list_spaces():
        saved = tmp_path / f"{name}.yaml"
        saved.write_text(runner.invoke(app, ["spaces", "show", name]).output)  # stdout as written, unwrapped
        assert load_space(str(saved)).model_dump(exclude={"source"}) == load_space(name).model_dump(exclude={"source"})


def test_a_bad_pretrain_value_is_named_as_the_users_preset_and_setting(tmp_path):
    out = runner.invoke(app, ["pretrain", "--preset", "digits-simclr", "--set", "optim.base_lr=-1",
                              "--runs-dir", str(tmp_path)])
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "digits-simclr with optim.base_lr=-1: optim.base_lr" in text
    assert "search space" not in text and list(tmp_path.iterdir()) == []


def test_every_help_shows_flags_without_a_value_placeholder():
    for command in ([], ["tune"], ["status"], ["spaces"], ["spaces", "show"], ["data", "write"]):
        out = runner.invoke(app, [*command, "--help"], terminal_width=120)
        assert out.exit_code == 0 and "--help" in out.output and "<bool>" not in out.output, (command, out.output)


def test_resuming_an_unknown_campaign_says_so_first_and_only(tmp_path):
    out = runner.invoke(app, ["tune", "--resume", "nosuch", "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2 and "no campaign 'nosuch'" in out.output
    assert "resuming campaign" not in out.output
