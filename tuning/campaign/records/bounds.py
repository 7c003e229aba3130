"""Whether a campaign's best trial sits at the edge of what it searched: the optimum may then lie
outside the searched range, which neither Ray Tune nor Optuna says.  A numeric range (on its log
scale where it is searched so) counts as reached within ``EDGE_SHARE`` of its width from a bound;
an ordinal parameter, at its first or last value."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tuning.campaign.space import FloatParam, IntParam, OrdinalParam, SearchSpace

EDGE_SHARE = 0.05


@dataclass(frozen=True)
class BoundNote:
    """The best trial's ``param`` at the ``side`` ("lower" or "upper") bound ``limit`` of its range."""
    param: str
    side: str
    value: Any
    limit: Any

    def __str__(self) -> str:
        return (f"the best trial's {self.param}={self.value:g} is at the {self.side} bound of its searched range "
                f"({self.limit:g}): the optimum may lie beyond it; widen the range") if isinstance(
                    self.value, (int, float)) else (f"the best trial's {self.param}={self.value!r} is the "
                                                   f"{'first' if self.side == 'lower' else 'last'} of its ordered "
                                                   "values: the optimum may lie beyond them; add more")


def _position(value: float, low: float, high: float, log: bool) -> float:
    """Where ``value`` lies in [low, high], from 0 to 1 (on the log scale for a log range)."""
    if log:
        value, low, high = math.log(value), math.log(low), math.log(high)
    return (value - low) / (high - low) if high > low else 0.5


def at_bounds(space: SearchSpace, sampled: dict[str, Any]) -> list[BoundNote]:
    """The searched parameters whose value in ``sampled`` (the best trial's) sits at a bound."""
    notes = []
    for name, param in space.params.items():
        value = sampled.get(name)
        if value is None:
            continue
        if isinstance(param, (FloatParam, IntParam)):
            position = _position(float(value), float(param.low), float(param.high), param.log)
            if position <= EDGE_SHARE:
                notes.append(BoundNote(name, "lower", value, param.low))
            elif position >= 1 - EDGE_SHARE:
                notes.append(BoundNote(name, "upper", value, param.high))
        elif isinstance(param, OrdinalParam) and value in (param.values[0], param.values[-1]):
            side = "lower" if value == param.values[0] else "upper"
            notes.append(BoundNote(name, side, value, value))
    return notes
