"""Exit codes a pipeline can trust: each outcome of a campaign maps to its own code, and a real
campaign whose every trial diverges exits with NO_TRIAL_COMPLETED, not 0."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spaces import write_tiny_space
from tuning.campaign.records.results import CampaignResult, TrialRow
from tuning.exit_codes import EXPLAINED, ExitCode, campaign_exit_code


def _result(statuses: list[str], unfinished: int = 0) -> CampaignResult:
    rows = [TrialRow(trial_id=f"t{i}", status=s, sampled={}, params={}) for i, s in enumerate(statuses)]
    return CampaignResult(name="c", rows=rows, tracking_uri="sqlite:///x", experiment="c", experiment_id="1",
                          parent_run_id=None, best=None, exported=None, runs_dir=Path("runs"), storage="runs/ray",
                          wall_time_s=1.0, unfinished=unfinished)


@pytest.mark.parametrize("statuses, unfinished, allow_failed, code", [
    (["completed", "early_stopped"], 0, False, ExitCode.OK),
    (["completed", "stopped"], 1, False, ExitCode.STOPPED),
    (["completed", "no_capacity"], 0, False, ExitCode.STOPPED),
    (["diverged", "early_stopped", "failed"], 0, False, ExitCode.NO_TRIAL_COMPLETED),
    (["completed", "failed"], 0, False, ExitCode.TRIALS_FAILED),
    (["completed", "failed"], 0, True, ExitCode.OK),
    (["completed", "diverged"], 0, False, ExitCode.OK),
])
def test_each_outcome_has_its_code(statuses, unfinished, allow_failed, code):
    assert campaign_exit_code(_result(statuses, unfinished), allow_failed) == code


def test_the_codes_are_distinct_and_explained():
    assert len({code.value for code in ExitCode}) == len(ExitCode) and ExitCode.OK == 0
    assert all(f"{code.value} " in EXPLAINED for code in ExitCode)


def test_bad_input_exits_with_its_code(tmp_path):
    from typer.testing import CliRunner

    from tuning.cli import app

    out = CliRunner().invoke(app, ["tune", "--space", "nosuch", "--runs-dir", str(tmp_path)])
    assert out.exit_code == ExitCode.BAD_INPUT and "nosuch" in out.output


@pytest.mark.slow
def test_a_campaign_whose_trials_all_diverge_exits_non_zero(ray_cluster, tmp_path):
    space = write_tiny_space(tmp_path / "div.yaml", "div", num_samples=2, max_concurrent_trials=2,
                             overrides={"optim.name": "sgd"},  # plain SGD at these rates: the loss goes non-finite
                             params={"optim.base_lr": {"distribution": "float", "low": 1e11, "high": 1e12,
                                                       "log": True}})
    done = subprocess.run([sys.executable, "-m", "tuning.cli", "tune", "--space", str(space), "--name", "div",
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert done.returncode == ExitCode.NO_TRIAL_COMPLETED, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.stdout.count("diverged") >= 2
