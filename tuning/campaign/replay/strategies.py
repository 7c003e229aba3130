"""The searches replay compares, and the search space they run on a recorded grid.

A grid replays the search space it was recorded for (``simclr_fmnist``, say) with each searched
parameter on the grid: a float or int parameter becomes an ordinal parameter over the grid's
values (Optuna samples its index, so TPE and GP see neighbouring values as near), a categorical
one keeps the grid's choices.  What the grid fixes joins the space's overrides, and the space's
starting points snap to the nearest grid value (on the parameter's own scale)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tuning.campaign.replay.table import Grid, TableError
from tuning.campaign.space import (
    CategoricalParam,
    FloatParam,
    IntParam,
    OrdinalParam,
    SchedulerSpec,
    SearchSpace,
    TPEOptions,
)
from tuning.config import flatten


@dataclass(frozen=True)
class Strategy:
    """A search: its sampler, its scheduler, the metric both read and the TPE options (None: the space's own)."""
    name: str
    sampler: str
    scheduler: SchedulerSpec
    metric: str | None = None
    tpe: TPEOptions | None = None

    def on(self, space: SearchSpace) -> SearchSpace:
        """``space`` searched this way."""
        return space.model_copy(update={"sampler": self.sampler, "scheduler": self.scheduler,
                                        "metric": self.metric or space.metric, "tpe": self.tpe or space.tpe})


FIFO = SchedulerSpec(type="fifo")
ASHA = SchedulerSpec(type="asha", grace_period=1, reduction_factor=2)


def strategies(shipped: SearchSpace, epochs: int) -> list[Strategy]:
    """The searches compared: random + FIFO (the reference), random + ASHA, TPE + FIFO, TPE with
    the shipped space's own scheduler, Hyperband (random sampler, Tune's asynchronous Hyperband),
    one-epoch top-k (random; ASHA with one rung at epoch 1 keeping 1 in ``epochs``), and GP + FIFO
    (Optuna's Gaussian-process sampler at full fidelity, as Bayesian optimisation is usually run:
    its every suggestion refits the GP, 3-5 s each past 100 trials here, so it cannot afford the
    hundreds of short trials ASHA starts within a budget)."""
    return [Strategy("random + FIFO", "random", FIFO),
            Strategy("random + ASHA", "random", ASHA),
            Strategy("TPE + FIFO", "tpe", FIFO),
            Strategy(f"TPE + {shipped.scheduler.type.upper()} (shipped: grace {shipped.scheduler.grace_period}, "
                     f"eta {shipped.scheduler.reduction_factor:g})", "tpe", shipped.scheduler),
            Strategy("Hyperband (random, 3 brackets, eta 2)", "random",
                     SchedulerSpec(type="hyperband", grace_period=1, reduction_factor=2, brackets=3)),
            Strategy(f"one-epoch top 1/{epochs} (random)", "random",
                     SchedulerSpec(type="asha", grace_period=1, reduction_factor=epochs)),
            Strategy("GP + FIFO", "gp", FIFO)]


def _nearest(value: Any, values: list[Any], log: bool) -> Any:
    if value in values:
        return value
    scale = (lambda v: math.log(v)) if log else (lambda v: v)
    return min(values, key=lambda v: abs(scale(v) - scale(value)))


def grid_space(space: SearchSpace, grid: Grid, overrides: dict[str, Any]) -> SearchSpace:
    """``space`` with its parameters on ``grid`` (see the module docstring); ``overrides``: what the
    grid was recorded with beyond its parameters (its scale, and the values it fixes)."""
    loose = sorted(set(space.params) - set(grid.params) - set(flatten(overrides)))
    if loose:
        raise TableError(f"search space {space.name!r} searches {loose}, which grid {grid.name!r} neither varies "
                         f"nor fixes (the grid's parameters: {', '.join(grid.params)})")
    params: dict[str, Any] = {}
    for name, values in grid.params.items():
        original = space.params.get(name)
        if original is None:
            raise TableError(f"grid {grid.name!r}: {name!r} is not a parameter of search space {space.name!r} "
                             f"({', '.join(space.params)})")
        if isinstance(original, CategoricalParam):
            params[name] = CategoricalParam(distribution="categorical", choices=list(values))
        else:
            params[name] = OrdinalParam(distribution="ordinal", values=list(values))
    logs = {name: isinstance(p, (FloatParam, IntParam)) and p.log for name, p in space.params.items()}
    points = []
    for point in space.points_to_evaluate:
        snapped = {name: _nearest(point[name], grid.params[name], logs.get(name, False))
                   for name in grid.params if name in point}
        if snapped and snapped not in points:
            points.append(snapped)
    fixed = {key: value for key, value in overrides.items() if key not in grid.params}
    return space.model_copy(update={"params": params, "points_to_evaluate": points,
                                    "overrides": {**space.overrides, **fixed}})

