"""A small synthetic learning-curve grid for the replay tests: 3 temperatures x 3 base lrs, 4
epochs, each cell's curve rising towards a final score that peaks at one cell; the cell at the
largest lr and smallest temperature diverges at epoch 2."""
from __future__ import annotations

import yaml

from tuning.campaign.replay.table import Curve, Grid
from tuning.campaign.space import SearchSpace, load_space
from tuning.run import reports

TEMPERATURES, LRS, EPOCHS = [0.1, 0.2, 0.4], [0.1, 0.5, 2.5], 4
SPACE = {
    "name": "grid-test", "base": "digits-simclr", "num_samples": 12, "max_concurrent_trials": 2, "seed": 0,
    "metric": reports.FROZEN_RIDGE_SELECT_TOP1, "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    "overrides": {"schedule.epochs": EPOCHS},
    "params": {"loss.params.temperature": {"distribution": "float", "low": 0.05, "high": 1.0, "log": True},
               "optim.base_lr": {"distribution": "float", "low": 0.05, "high": 5.0, "log": True}},
    "points_to_evaluate": [{"loss.params.temperature": 0.15, "optim.base_lr": 0.5}],
}


def final_score(t_index: int, lr_index: int) -> float:
    return 80.0 - 3.0 * abs(t_index - 1) - 2.0 * abs(lr_index - 1) + 0.5 * t_index


def curve(t_index: int, lr_index: int) -> Curve:
    final = final_score(t_index, lr_index)
    if (t_index, lr_index) == (0, 2):
        epochs = ({reports.EPOCH: 1, reports.RUN_STATE: "running", reports.FROZEN_RIDGE_SELECT_TOP1: 30.0,
                   "epoch_time_s": 2.0},
                  {reports.EPOCH: 2, reports.RUN_STATE: "diverged", reports.FROZEN_RIDGE_SELECT_TOP1: 10.0,
                   "epoch_time_s": 2.0})
        return Curve(epochs, {})
    epochs = tuple({reports.EPOCH: e, reports.RUN_STATE: "completed" if e == EPOCHS else "running",
                    reports.FROZEN_RIDGE_SELECT_TOP1: final - 8.0 / e, "epoch_time_s": 1.0 + lr_index}
                   for e in range(1, EPOCHS + 1))
    return Curve(epochs, {reports.LINEAR_PROBE_SELECT_TOP1: final + 1.0, reports.LINEAR_PROBE_TEST_TOP1: final,
                          "eval_time_s": 0.5})


def grid() -> Grid:
    curves = {((t, lr), 0): curve(i, j) for i, t in enumerate(TEMPERATURES) for j, lr in enumerate(LRS)}
    return Grid("grid-test", {"loss.params.temperature": TEMPERATURES, "optim.base_lr": LRS}, EPOCHS, curves)


def space(tmp_path, **changes) -> SearchSpace:
    path = tmp_path / "grid-test.yaml"
    path.write_text(yaml.safe_dump({**SPACE, **changes}))
    return load_space(str(path))
