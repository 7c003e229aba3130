"""Replay is exact: a real campaign (real Ray Tune, ASHA, TPE through CampaignSearch, one trial at
a time, each trial really training) on a small digits grid, and its replay over the same grid
(every cell trained once, in this process, through the same loop) with the same seed, give the
same trial configs in the same order, the same stops and the same exported best.  Training is
deterministic per seed on this CPU, so a cell's recorded curve is what its live trial reports."""
from __future__ import annotations

import itertools

import pytest
import yaml
from typer.testing import CliRunner

from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.best import best_row
from tuning.campaign.records.results import read_trial_records
from tuning.campaign.replay.engine import replay
from tuning.campaign.replay.table import Curve, Grid
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import load_space
from tuning.cli import app
from tuning.run import reports
from tuning.run.data import prepare_data
from tuning.run.loop import RunRequest, pretrain
from tuning.run.sessions import LocalSession

pytestmark = pytest.mark.slow

TEMPERATURES, LRS, EPOCHS = [0.1, 0.3], [0.2, 1.0, 5.0], 4
GRID = {"loss.params.temperature": TEMPERATURES, "optim.base_lr": LRS}


@pytest.fixture(scope="module")
def live_and_grid(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("equivalence")
    space_file = root / "grid.yaml"
    space_file.write_text(yaml.safe_dump({
        "name": "grid", "base": "digits-simclr", "num_samples": 6, "max_concurrent_trials": 1, "seed": 3,
        "sampler": "tpe", "tpe": {"n_startup_trials": 2},
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
        "overrides": {"schedule.epochs": EPOCHS, "resources.workers": 1, "probe.offline_epochs": 5,
                      "probe.knn": False, "probe.rung_bank_images": 600},
        "params": {name: {"distribution": "ordinal", "values": values} for name, values in GRID.items()},
        "points_to_evaluate": [{"loss.params.temperature": 0.3, "optim.base_lr": 1.0}],
    }))
    space = load_space(str(space_file)).frozen()
    runs = RunsFolder(root / "runs")
    result = run_campaign(space, CampaignOptions(runs_dir=runs.root), name="live")
    records = sorted(read_trial_records(f"{result.storage}/{result.name}"), key=lambda r: r.launch_index)
    curves = {}
    for cell in itertools.product(*GRID.values()):
        cfg = space.trial_config(dict(zip(GRID, cell)))
        session = LocalSession()
        pretrain(RunRequest(cfg, prepare_data(cfg, runs.data_dir), requested_at=0.0), session)
        final = {k: v for k, v in session.reports[-1].items() if k in (reports.LINEAR_PROBE_SELECT_TOP1,
                                                                        reports.LINEAR_PROBE_TEST_TOP1)}
        curves[(cell, 0)] = Curve(tuple(session.reports), final)
    return space, result, records, Grid("grid", GRID, EPOCHS, curves), runs.root


def _trials(pairs):
    return [({name: config[name] for name in GRID}, epochs, str(status)) for config, epochs, status in pairs]


def test_replay_makes_the_live_campaigns_choices_and_stops(live_and_grid):
    space, _, records, grid, _ = live_and_grid
    replayed = replay(space, lambda _, values: grid.curve(grid.cell_of(values)), EPOCHS)
    live = _trials((r.config, len(r.results), r.status) for r in records)
    again = _trials((t.sampled, t.epochs, t.status) for t in replayed.trials)
    assert len(live) == space.num_samples
    assert again == live
    assert {status for _, _, status in live} >= {"completed", "early_stopped"}  # ASHA stopped something
    assert len({tuple(values.values()) for values, _, _ in live}) >= 3  # TPE moved around the grid


def test_a_cells_recorded_curve_is_what_its_live_trial_reported(live_and_grid):
    _, _, records, grid, _ = live_and_grid
    for record in records:
        curve = grid.curve(grid.cell_of(record.config))
        for live, recorded in zip(record.results, curve.epochs):
            assert live[reports.FROZEN_RIDGE_SELECT_TOP1] == recorded[reports.FROZEN_RIDGE_SELECT_TOP1]


def test_replay_exports_the_live_campaigns_best(live_and_grid):
    space, result, records, grid, _ = live_and_grid
    replayed = replay(space, lambda _, values: grid.curve(grid.cell_of(values)), EPOCHS)
    live_best = best_row(result.rows, space.metric)
    replayed_best = replayed.incumbent()
    assert {n: replayed_best.sampled[n] for n in GRID} == {n: live_best.sampled[n] for n in GRID}
    assert replayed_best.last[reports.LINEAR_PROBE_SELECT_TOP1] == live_best.linear_probe_select_top1
    assert replayed_best.last[reports.LINEAR_PROBE_TEST_TOP1] == live_best.linear_probe_test_top1


def test_dualtune_replay_of_the_campaign_under_its_own_settings_changes_nothing(live_and_grid, tmp_path,
                                                                                 monkeypatch):
    _, result, records, _, runs_root = live_and_grid
    monkeypatch.chdir(tmp_path)  # the command runs from anywhere, given --runs-dir
    printed = CliRunner().invoke(app, ["replay", "live", "--runs-dir", str(runs_root), "--scheduler", "asha",
                                       "--grace", "1", "--grace", "2", "--eta", "2"])
    assert printed.exit_code == 0, printed.output
    spent = sum(len(r.results) for r in records)
    own = next(line for line in printed.output.splitlines() if line.startswith("| asha | 1 | 2 |"))
    assert own == f"| asha | 1 | 2 | {spent} ({spent}) | 0% | yes | +0.00 | +0.00 | 0 |"
    later = next(line for line in printed.output.splitlines() if line.startswith("| asha | 2 | 2 |"))
    stopped_at_1 = sum(1 for r in records if len(r.results) == 1 and str(r.status) == "early_stopped")
    assert int(later.split("|")[-2]) == stopped_at_1  # grace 2 would train on what ASHA stopped at epoch 1


def test_dualtune_replay_refuses_a_campaign_and_a_table_together(tmp_path):
    printed = CliRunner().invoke(app, ["replay", "x", "--table", str(tmp_path)])
    assert printed.exit_code == 2 and "give a campaign to replay, or --table FOLDER, not both" in printed.output
