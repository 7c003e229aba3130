"""``dualtune replay``'s words: a finished campaign under other scheduler settings, and search
strategies compared over a recorded table (markdown tables, one line a row)."""
from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import ValidationError

from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.results import read_trial_records
from tuning.campaign.replay.compare import compare
from tuning.campaign.replay.runs import best_cell_test, replay_campaign, replay_table, table_space
from tuning.campaign.replay.strategies import strategies
from tuning.campaign.replay.table import TableError, load_table
from tuning.campaign.search.state import CampaignState
from tuning.campaign.space import SchedulerSpec
from tuning.errors import ConfigError
from tuning.run import reports


def _interval(low: float, high: float) -> str:
    return f"{low:.2f} to {high:.2f}"


def scheduler_specs(scheduler: str, graces: list[int], etas: list[float], brackets: int) -> list[SchedulerSpec]:
    """Every (grace, eta) setting of ``scheduler``; ConfigError naming the bad flag's value."""
    try:
        return [SchedulerSpec(type=scheduler, grace_period=grace, reduction_factor=eta, brackets=brackets)
                for grace, eta in itertools.product(graces, etas)]
    except ValidationError as error:
        first = error.errors()[0]
        flag = {"type": "--scheduler", "grace_period": "--grace", "reduction_factor": "--eta",
                "brackets": "--brackets"}[first["loc"][0]]
        raise ConfigError(f"replay {flag} {first['input']!r}: {first['msg']}") from None


def campaign_replay_lines(campaign: str, runs_dir: Path, scheduler: str, graces: list[int], etas: list[float],
                          brackets: int) -> list[str]:
    """One row per (grace, eta): epochs spent against the campaign's own, the best's survival, regret.
    Bad settings are refused (ConfigError) before the campaign is read."""
    specs = scheduler_specs(scheduler, graces, etas, brackets)
    state = CampaignState.load(RunsFolder(runs_dir), campaign)
    records = [record for experiment in state.all_tune_results
               for record in sorted(read_trial_records(experiment), key=lambda r: r.launch_index)]
    lines = [f"Campaign {campaign!r}: {len(records)} trials replayed in the order they ran under each setting "
             "(exact for the epochs they recorded; a sampler that learns might have chosen other trials).", "",
             "| scheduler | grace | eta | epochs (campaign's own) | saved | its best survives | regret, select "
             "| regret, test | curves too short to tell |", "|---|---|---|---|---|---|---|---|---|"]
    for spec in specs:
        grace, eta = spec.grace_period, spec.reduction_factor
        outcome = replay_campaign(state.space, records, spec)
        spent = outcome.replayed.epochs
        select = outcome.regret(reports.LINEAR_PROBE_SELECT_TOP1)
        test = outcome.regret(reports.LINEAR_PROBE_TEST_TOP1)
        survives = "yes" if outcome.best_survives else "no"
        lines.append(f"| {scheduler} | {grace} | {eta:g} | {spent} ({outcome.original_epochs}) "
                     f"| {100 * (1 - spent / outcome.original_epochs):.0f}% | {survives} "
                     f"| {'-' if select is None else f'{select:+.2f}'} | {'-' if test is None else f'{test:+.2f}'} "
                     f"| {len(outcome.too_short)} |")
    return lines


def table_replay_lines(folder: Path, grid_name: str, names: list[str], seeds: int, budgets: list[int]) -> list[str]:
    """Every chosen strategy, ``seeds`` seeds each, against random + FIFO at every budget."""
    grids = load_table(folder, complete=False)  # the other grids may still be being recorded
    if grid_name not in grids:
        raise TableError(f"the table has no grid {grid_name!r}; its grids: {', '.join(grids)}")
    grid = grids[grid_name].check_complete()
    space = table_space(grid)
    chosen = strategies(space, grid.epochs)
    unknown = [n for n in names if not any(s.name.startswith(n) for s in chosen)]
    if unknown:
        raise TableError(f"no strategy named {unknown}; the strategies: {'; '.join(s.name for s in chosen)}")
    reference = chosen[0]
    picked = [reference] + [s for s in chosen[1:] if not names or any(s.name.startswith(n) for n in names)]
    most = max(budgets) * grid.epochs
    runs = {s.name: [replay_table(grid, space, s, seed, most) for seed in range(seeds)] for s in picked}
    best = best_cell_test(grid)
    lines = [f"Grid {grid_name!r}: {len(grid.cells())} cells x {grid.epochs} epochs; the best cell on select scores "
             f"{best:.2f} on test. {seeds} seeds a strategy; 95% bootstrap intervals over seeds.", "",
             "| budget (full trials) | strategy | incumbent, test | 95% interval | regret | 95% interval "
             "| speed-up over random + FIFO | 95% interval |", "|---|---|---|---|---|---|---|---|"]
    for budget in budgets:
        for strategy in picked:
            c = compare(strategy.name, runs[reference.name], runs[strategy.name], budget * grid.epochs, best)
            lines.append(f"| {budget} | {c.strategy} | {c.incumbent:.2f} | {_interval(*c.incumbent_interval)} "
                         f"| {c.regret:.2f} | {_interval(*c.regret_interval)} | {c.speedup:.2f}x "
                         f"| {_interval(*c.speedup_interval)} |")
    return lines
