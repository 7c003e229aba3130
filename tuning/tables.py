"""Rich tables of a campaign's trials: the summary a campaign ends with, and ``dualtune status``."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from tuning.campaign.records.export import rerun_command
from tuning.campaign.records.history import TrialSummary, varying_params
from tuning.campaign.records.results import CampaignResult
from tuning.campaign.records.tracking import ui_path
from tuning.campaign.services.stores import is_server
from tuning.campaign.statuses import TrialStatus, resume_command
from tuning.run import reports

SPLIT_COLUMNS = ("online (select)", "linear probe (select)", "linear probe (test)", "k-NN (test)")
"""Trial columns, each naming its split: what choices read (select), what is reported (test)."""


def fmt(value: Any, digits: int = 2) -> str:
    """One cell: "-" for nothing, numbers (or MLflow's number strings) rounded, tiny ones in
    3 significant digits, anything else as it is."""
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 0.01 else f"{value:.3g}"
    return str(value)


def trials_table(result: CampaignResult) -> Table:
    """One row per trial: params, what the choice read (select), what is reported (test), status,
    duration; the best trial (chosen on select) is starred."""
    table = Table(title=f"campaign {result.name}: {len(result.rows)} trials")
    table.add_column("trial", no_wrap=True)
    for name in result.param_names:
        table.add_column(name.split(".")[-1], justify="right", overflow="fold")
    for column in ("epochs", *SPLIT_COLUMNS, "status", "time (s)"):
        table.add_column(column, justify="right", overflow="fold")
    best_id = result.best.trial_id if result.best else None
    for r in result.rows:
        marker = " *" if r.trial_id == best_id else ""
        table.add_row(r.trial_id + marker, *(fmt(r.params.get(p), 3) for p in result.param_names),
                      fmt(r.epoch, 0), fmt(r.online_select_top1), fmt(r.linear_probe_select_top1),
                      fmt(r.linear_probe_test_top1), fmt(r.knn_test_top1), r.status, fmt(r.duration_s, 1))
    return table


def status_records(summaries: list[TrialSummary]) -> list[dict[str, object]]:
    """``dualtune status --format csv|json``: one flat record per trial, the params that differ
    between trials under their full dotted names, numbers unrounded."""
    searched = varying_params([s.params for s in summaries])
    return [{"trial_id": s.trial_id, "status": s.status, **{p: s.params.get(p) for p in searched},
             reports.EPOCH: s.epoch, reports.ONLINE_TOP1: s.online_select_top1,
             reports.LINEAR_PROBE_SELECT_TOP1: s.linear_probe_select_top1,
             reports.LINEAR_PROBE_TEST_TOP1: s.linear_probe_test_top1,
             "duration_s": s.duration_s, "run_id": s.run_id} for s in summaries]


def baselines_line(baselines: dict[str, float]) -> str | None:
    """The baselines in one line: each representation's linear-probe and k-NN top-1 on test."""
    if not baselines:
        return None
    parts = []
    for name, label in (("raw_pixels", "raw pixels"), ("untrained", "untrained network")):
        scores = [f"{what} {fmt(baselines[reports.baseline_key(name, key)])}"
                  for key, what in ((reports.LINEAR_PROBE_TEST_TOP1, "linear probe"), (reports.KNN_TEST_TOP1, "k-NN"))
                  if reports.baseline_key(name, key) in baselines]
        if scores:
            parts.append(f"{label}: {', '.join(scores)}")
    return "Baselines (the same probes, test top-1): " + "; ".join(parts)


def status_table(campaign: str, summaries: list[TrialSummary], baselines: dict[str, float] | None = None) -> Table:
    """``dualtune status``: one row per trial, with the params that differ between trials, and
    the campaign's baselines beneath."""
    searched = varying_params([s.params for s in summaries])
    table = Table(title=f"campaign {campaign}: {len(summaries)} trials", caption=baselines_line(baselines or {}))
    table.add_column("trial", no_wrap=True)
    for column in ["status", *(name.split(".")[-1] for name in searched), "epochs", *SPLIT_COLUMNS[:3],
                   "time (s)"]:
        table.add_column(column, overflow="fold")
    for s in summaries:
        table.add_row(s.trial_id, s.status, *(fmt(s.params.get(p), 3) for p in searched), fmt(s.epoch, 0),
                      fmt(s.online_select_top1), fmt(s.linear_probe_select_top1), fmt(s.linear_probe_test_top1),
                      fmt(s.duration_s))
    return table


def print_summary(result: CampaignResult, console: Console | None = None) -> None:
    """The trials table, where MLflow holds the runs, and the exported best config."""
    console = console or Console()
    console.print(trials_table(result))
    if result.baselines:
        console.print(baselines_line(result.baselines))
    console.print(f"MLflow tracking URI: {result.tracking_uri}  (experiment {result.experiment!r}"
                  + (f", parent run {result.parent_run_id})" if result.parent_run_id else ")"))
    shared_view = result.name if result.parent_run_id else None  # a campaign's trials; a pretrain's one run
    if is_server(result.tracking_uri):
        console.print(f"Browse it: {result.tracking_uri.rstrip('/')}/{ui_path(result.experiment_id, shared_view)}")
    else:
        console.print(f"Browse it: dualtune ui --runs-dir {result.runs_dir}, then open "
                      f"http://127.0.0.1:5000/{ui_path(result.experiment_id, shared_view)}")
    if not result.mlflow_synced:
        console.print(f"[bold yellow]MLflow could not be brought up to date; when it is back: "
                      f"dualtune sync {result.name} --runs-dir {result.runs_dir}[/]")
    if result.unfinished:
        console.print(f"[bold yellow]Campaign {result.name} stopped with {result.unfinished} trials unfinished "
                      f"(their runs show as KILLED); continue it: {resume_command(result.name, result.runs_dir)}[/]")
    waiting = [row.trial_id for row in result.rows if row.status == TrialStatus.NO_CAPACITY]
    if waiting:
        console.print(f"[bold yellow]{len(waiting)} trials found no room on the live nodes "
                      f"({TrialStatus.NO_CAPACITY}); once the cluster can hold them again: "
                      f"{resume_command(result.name, result.runs_dir, retry_errored=True)}[/]")
    if result.exported:
        best = result.best
        chosen_on = fmt(best.linear_probe_select_top1)
        console.print(f"Best trial {best.trial_id} (chosen on select: linear probe {chosen_on}): "
                      f"linear-probe top-1 on test {fmt(best.linear_probe_test_top1)}")
        console.print(f"Best config: {result.exported}", soft_wrap=True)
        console.print(f"Rerun it: {rerun_command(result.exported, result.tracking_uri)}", soft_wrap=True)
    console.print(f"Wall time: {result.wall_time_s:.1f} s")
