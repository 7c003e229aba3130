"""Replay's event loop over a synthetic grid: the real Tune schedulers and CampaignSearch decide,
budgets and concurrency are kept, the same seed replays the same campaign, and bad input is
refused before anything runs."""
import numpy as np
import pytest

from tests.tuning.campaign.replay.grids import EPOCHS, grid, space
from tuning.campaign.records.results import TrialRecord
from tuning.campaign.replay.engine import epoch_seconds, replay
from tuning.campaign.replay.runs import replay_campaign, replay_seeds
from tuning.campaign.replay.strategies import ASHA, FIFO, Strategy, grid_space
from tuning.campaign.replay.table import TableError
from tuning.campaign.space import SchedulerSpec, TPEOptions
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports


@pytest.fixture
def on_grid(tmp_path):
    return grid_space(space(tmp_path), grid(), {})


def _play(space, max_epochs=None):
    table = grid()
    return replay(space, lambda _, values: table.curve(table.cell_of(values)), EPOCHS, max_epochs=max_epochs)


def test_fifo_trains_every_trial_to_its_end(on_grid):
    replayed = _play(Strategy("r", "random", FIFO).on(on_grid))
    assert len(replayed.trials) == on_grid.num_samples
    for trial in replayed.trials:
        diverges = grid().cell_of(trial.sampled) == (0.1, 2.5)
        expected = (TrialStatus.DIVERGED, 2) if diverges else (TrialStatus.COMPLETED, EPOCHS)
        assert (trial.status, trial.epochs) == expected
    assert grid().cell_of(replayed.trials[0].sampled) == (0.2, 0.5)  # the start point, snapped to the grid


def test_asha_stops_exactly_the_trials_below_the_median_of_their_rung(on_grid):
    """Against a separate float64 reading of asynchronous successive halving (grace 1, eta 2, 4
    epochs: rungs at epochs 1 and 2): one trial at a time, a trial reaching a rung stops when its
    score is below the median of the scores recorded there before it, then joins them."""
    replayed = _play(Strategy("r", "random", ASHA).on(on_grid.model_copy(update={"max_concurrent_trials": 1})))
    recorded = {1: [], 2: []}
    expected = []
    for trial in replayed.trials:
        curve = grid().curve(grid().cell_of(trial.sampled))
        epochs = len(curve.epochs)
        for rung in (1, 2):
            if rung > len(curve.epochs):
                break
            score = float(curve.report(rung)[reports.FROZEN_RIDGE_SELECT_TOP1])
            below = bool(recorded[rung]) and score < np.percentile(np.asarray(recorded[rung], dtype=np.float64), 50)
            recorded[rung].append(score)
            if below:
                epochs = rung
                break
        expected.append(epochs)
    assert [t.epochs for t in replayed.trials] == expected
    assert any(t.status == TrialStatus.EARLY_STOPPED for t in replayed.trials)


def test_a_budget_stops_the_campaign_at_that_many_epochs(on_grid):
    replayed = _play(on_grid, max_epochs=10)
    assert replayed.epochs == 10
    assert replayed.clock[-1][1] == 10
    assert all(t.ended_at_epoch <= 10 for t in replayed.trials)


def test_the_same_seed_replays_the_same_campaign_and_another_differs(on_grid):
    def configs(seed):
        return [tuple(t.sampled.values()) for t in _play(on_grid.model_copy(update={"seed": seed})).trials]

    assert configs(1) == configs(1)
    assert configs(1) != configs(2)


def test_concurrent_trials_end_their_epochs_in_recorded_time_order(on_grid):
    replayed = _play(Strategy("r", "random", FIFO).on(on_grid))
    times = [t for t, _ in replayed.clock]
    assert times == sorted(times)
    assert replayed.clock[-1][0] < sum(epoch_seconds(grid().curve(grid().cell_of(t.sampled)), e)
                                       for t in replayed.trials for e in range(1, t.epochs + 1))  # two at once


def test_hyperband_gives_trials_different_first_rungs(on_grid):
    hyperband = SchedulerSpec(type="hyperband", grace_period=1, reduction_factor=2, brackets=2)
    replayed = _play(Strategy("h", "random", hyperband).on(on_grid.model_copy(update={"num_samples": 30})))
    stopped_at = {t.epochs for t in replayed.trials if t.status == TrialStatus.EARLY_STOPPED}
    assert {1, 2} <= stopped_at  # bracket 0 stops at epoch 1, bracket 1 first at epoch 2


def test_a_strategy_with_tpe_options_changes_the_campaign_and_one_without_keeps_the_spaces(on_grid):
    own = Strategy("t", "tpe", ASHA)
    independent = Strategy("t", "tpe", ASHA, tpe=TPEOptions(n_startup_trials=2, multivariate=False))
    assert own.on(on_grid).tpe == on_grid.tpe
    assert independent.on(on_grid).tpe_options() == {"constant_liar": True, "multivariate": False, "group": False,
                                                      "n_startup_trials": 2}
    configs = [[t.sampled for t in _play(s.on(on_grid)).trials] for s in (own, independent)]
    assert configs[0][:2] == configs[1][:2]  # the same seeded start-up draws
    assert configs[0] != configs[1]  # then TPE models them otherwise


def test_a_space_searching_a_parameter_off_the_grid_is_refused(tmp_path):
    wide = space(tmp_path, params={**space(tmp_path).model_dump()["params"],
                                   "model.embedding_dim": {"distribution": "categorical", "choices": [32, 64]}})
    with pytest.raises(TableError, match=r"searches \['model.embedding_dim'\], which grid 'grid-test' neither"):
        grid_space(wide, grid(), {})


def test_a_campaign_replay_marks_curves_too_short_to_tell(on_grid):
    table = grid()
    stopped = table.curve((0.2, 0.5))
    records = [TrialRecord(f"t_{i:05d}", {"loss.params.temperature": 0.2, "optim.base_lr": 0.5},
                           [dict(r) for r in (stopped.epochs[:1] if i == 1 else stopped.epochs)], None, "", True)
               for i in range(3)]
    records[2].results[-1].update({reports.LINEAR_PROBE_SELECT_TOP1: 90.0, reports.LINEAR_PROBE_TEST_TOP1: 85.0})
    outcome = replay_campaign(on_grid, records, FIFO)
    assert outcome.too_short == ["00001"]  # FIFO would train it on; it recorded one epoch
    assert outcome.original_epochs == 1 + 2 * EPOCHS
    assert outcome.best_survives and outcome.regret(reports.LINEAR_PROBE_TEST_TOP1) == 0.0


def test_a_campaign_with_a_trial_that_recorded_nothing_is_refused(on_grid):
    records = [TrialRecord("t_00000", {}, [], None, "", True)]
    with pytest.raises(TableError, match=r"trials \['t_00000'\] recorded no epoch"):
        replay_campaign(on_grid, records, FIFO)


@pytest.mark.parametrize("flags, message", [
    (["--scheduler", "median"], "replay --scheduler 'median': Input should be 'asha', 'fifo' or 'hyperband'"),
    (["--eta", "1"], "replay --eta 1.0: Input should be greater than 1"),
])
def test_dualtune_replay_refuses_bad_settings_before_reading_the_campaign(tmp_path, flags, message):
    from typer.testing import CliRunner

    from tuning.cli import app

    out = CliRunner().invoke(app, ["replay", "no-such-campaign", "--runs-dir", str(tmp_path), *flags])
    assert out.exit_code == 2 and message in " ".join(out.output.split())


def test_dualtune_replay_refuses_a_folder_that_is_no_table(tmp_path):
    from typer.testing import CliRunner

    from tuning.cli import app

    out = CliRunner().invoke(app, ["replay", "--table", str(tmp_path)])
    assert out.exit_code == 2 and "is not a learning-curve table: it has no table.json" in " ".join(out.output.split())



@pytest.mark.service  # starts worker processes
def test_seeds_spread_over_processes_replay_as_they_do_in_one(on_grid):
    table, chosen = grid(), [Strategy("r", "random", ASHA), Strategy("t", "tpe", ASHA)]
    alone = replay_seeds(table, on_grid, chosen, 3, 3 * EPOCHS)
    spread = replay_seeds(table, on_grid, chosen, 3, 3 * EPOCHS, workers=2)
    assert spread == alone and list(alone) == ["r", "t"] and all(len(seeds) == 3 for seeds in alone.values())
    assert alone["r"][0] != alone["r"][1] or alone["r"][0] != alone["r"][2]  # the seeds differ
