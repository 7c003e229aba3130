"""The CLI refuses bad input early, with a message naming the bad value."""
from typer.testing import CliRunner

from tuning.cli import app

runner = CliRunner()


def test_unknown_space_is_refused_with_the_list(tmp_path):
    out = runner.invoke(app, ["tune", "--space", "nope", "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2
    assert "unknown search space 'nope'" in out.output and "smoke" in out.output
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_pretrain_needs_exactly_one_source():
    out = runner.invoke(app, ["pretrain"])
    assert out.exit_code == 2 and "exactly one of --config FILE or --preset NAME" in out.output


def test_pretrain_with_a_missing_beton_fails_before_compute(tmp_path):
    out = runner.invoke(app, ["pretrain", "--preset", "digits-simclr", "--data", str(tmp_path / "x.beton"),
                              "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 2
    assert "x.beton' does not exist" in out.output
    assert not (tmp_path / "runs").exists()


def test_pretrain_with_a_bad_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {base_lr: 0.5, lr: 1}\n")
    out = runner.invoke(app, ["pretrain", "--config", str(bad), "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 2 and "unknown key 'optim.lr'" in out.output


def test_spaces_lists_descriptions():
    out = runner.invoke(app, ["spaces"])
    assert out.exit_code == 0 and "smoke:" in out.output and "digits-simclr" in out.output
