"""What ``dualtune replay`` runs: a finished campaign's own trials under other scheduler settings,
or strategies over a recorded table, many seeds each."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from tuning.campaign.records.results import TrialRecord
from tuning.campaign.replay.compare import Step, incumbent_steps
from tuning.campaign.replay.engine import Replayed, ReplayedTrial, replay
from tuning.campaign.replay.strategies import Strategy, grid_space
from tuning.campaign.replay.table import Curve, Grid, TableError
from tuning.campaign.space import SchedulerSpec, SearchSpace, load_space
from tuning.campaign.statuses import TrialStatus
from tuning.run import reports


@dataclass(frozen=True)
class CampaignReplay:
    """A finished campaign against its replay under ``scheduler``: the epochs each spent, the
    best trial of each (export's rule) and whether the original best would still complete, the
    regret (original best's score less the replay's, select and test), and the trials whose
    recorded curve ended before the replayed scheduler would have stopped them."""
    scheduler: SchedulerSpec
    original_epochs: int
    replayed: Replayed
    original_best: ReplayedTrial | None
    replayed_best: ReplayedTrial | None

    @property
    def best_survives(self) -> bool:
        return self.original_best is not None and any(
            t.trial_id == self.original_best.trial_id and t.status == TrialStatus.COMPLETED
            for t in self.replayed.trials)

    @property
    def too_short(self) -> list[str]:
        return [t.trial_id for t in self.replayed.trials if t.too_short]

    def regret(self, key: str) -> float | None:
        if self.original_best is None or self.replayed_best is None:
            return None
        return self.original_best.last[key] - self.replayed_best.last[key]


def replay_campaign(space: SearchSpace, records: list[TrialRecord], scheduler: SchedulerSpec) -> CampaignReplay:
    """Replay ``records`` (the campaign's trials, in launch order) under ``scheduler``: the same
    trials in the same order, one at a time or as many at once as the campaign ran; exact for the
    epochs the trials recorded.  TableError when a trial recorded nothing or none ended."""
    empty = [r.trial_id for r in records if not r.results]
    if empty:
        raise TableError(f"the campaign's trials {empty} recorded no epoch; replay needs every trial's curve "
                         f"(`dualtune sync` back-fills what Ray recorded)")
    if not any(r.status.ended for r in records):
        raise TableError("the campaign has no ended trial to replay; finish it first (`dualtune tune --resume`)")
    curves = [Curve(tuple(r.results), {}) for r in records]
    epochs = space.base_config().schedule.epochs
    original = replay(space, lambda trial_id, _: curves[int(trial_id)], epochs, configs=[r.config for r in records])
    replayed = replay(space.model_copy(update={"scheduler": scheduler}), lambda trial_id, _: curves[int(trial_id)],
                      epochs, configs=[r.config for r in records])
    return CampaignReplay(scheduler, sum(r.epochs for r in records), replayed, original.incumbent(),
                          replayed.incumbent())


def table_space(grid: Grid) -> SearchSpace:
    """The space a grid replays: the one it was recorded for, on the grid."""
    return grid_space(load_space(grid.space), grid, grid.overrides)


def replay_table(grid: Grid, space: SearchSpace, strategy: Strategy, seed: int, max_epochs: int) -> list[Step]:
    """One seed of ``strategy`` over ``grid`` (cells' seed-0 curves) until ``max_epochs`` epochs
    were spent: the incumbent's history."""
    searched = strategy.on(space).model_copy(update={"seed": seed, "num_samples": max_epochs})
    replayed = replay(searched, lambda _, values: grid.curve(grid.cell_of(values)), grid.epochs,
                      max_epochs=max_epochs)
    return incumbent_steps(replayed)


def replay_seeds(grid: Grid, space: SearchSpace, strategies: list[Strategy], seeds: int, max_epochs: int,
                 workers: int = 1) -> dict[str, list[list[Step]]]:
    """Seeds 0..``seeds``-1 of every strategy over ``grid`` (``replay_table``), strategy name ->
    each seed's incumbent history, spread over ``workers`` processes: each replay is seeded, so
    the result is the same whatever their number."""
    jobs = [(strategy, seed) for strategy in strategies for seed in range(seeds)]
    if workers == 1:
        histories = [replay_table(grid, space, strategy, seed, max_epochs) for strategy, seed in jobs]
    else:
        context = multiprocessing.get_context("spawn")  # no forked copies of a threaded parent
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_share,
                                 initargs=(grid, space, max_epochs)) as pool:
            histories = list(pool.map(_replay_shared, jobs))
    runs: dict[str, list[list[Step]]] = {strategy.name: [] for strategy in strategies}
    for (strategy, _), history in zip(jobs, histories):
        runs[strategy.name].append(history)
    return runs


_SHARED: tuple[Grid, SearchSpace, int] | None = None  # a worker's grid, space and budget (set once per process)


def _share(grid: Grid, space: SearchSpace, max_epochs: int) -> None:
    global _SHARED
    _SHARED = (grid, space, max_epochs)


def _replay_shared(job: tuple[Strategy, int]) -> list[Step]:
    grid, space, max_epochs = _SHARED
    return replay_table(grid, space, job[0], job[1], max_epochs)


def best_cell_test(grid: Grid) -> float:
    """The test linear probe of the grid's best cell on select (seed 0): the regret's reference."""
    select = grid.final(reports.LINEAR_PROBE_SELECT_TOP1)
    best = max((cell for cell in select if select[cell] is not None), key=lambda cell: select[cell])
    return grid.curve(best).final[reports.LINEAR_PROBE_TEST_TOP1]
