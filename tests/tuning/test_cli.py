"""The CLI refuses bad input early, with a message naming the bad value."""
from typer.testing import CliRunner

from tuning.cli import app

runner = CliRunner()


def test_pretrain_needs_exactly_one_source():
    out = runner.invoke(app, ["pretrain"])
    assert out.exit_code == 2 and "exactly one of --config FILE or --preset NAME" in out.output


def test_spaces_lists_descriptions():
    out = runner.invoke(app, ["spaces"])
    assert out.exit_code == 0 and "smoke:" in out.output and "digits-simclr" in out.output
