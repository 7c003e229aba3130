"""Rich tables of a campaign's trials: the summary a campaign ends with, and ``dualtune status``."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from tuning.campaign.paths import RunsFolder
from tuning.campaign.records.best import RANK_METRIC
from tuning.campaign.records.export import rerun_command
from tuning.campaign.records.history import CampaignOverview, varying_params
from tuning.campaign.records.results import CampaignResult
from tuning.campaign.records.tracking import ui_path
from tuning.campaign.services.stores import Stores, is_server
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
        return f"{value:.{digits}f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"
    return str(value)


STATUS_METRICS = (reports.ONLINE_TOP1, RANK_METRIC, reports.LINEAR_PROBE_TEST_TOP1, reports.KNN_TEST_TOP1)
"""The scores ``dualtune status`` shows of every trial, beside the campaign's rung metric."""
BEST_NOTE = (f"* the best trial, as export picks it: the completed one with the highest {RANK_METRIC} (until one "
             "completes, the best by the search's metric)")


DROPPED_FIRST = ("k-NN (test)", "online (select)", "time (s)", "epochs", "rung (select)")
"""The columns a table leaves out, in this order, when the console is too narrow for all of them."""
CELL_PADDING = 3  # a column's two spaces of padding and its border
TABLE_EDGE = 1  # the table's right border


def _column_width(header: str, cells: list[str]) -> int:
    return max([len(word) for word in header.split()] + [len(cell) for cell in cells]) + CELL_PADDING


def fitting_columns(headers: list[str], rows: list[list[str]], width: int | None) -> list[int]:
    """The columns kept in ``width`` characters: all of them if they fit, else with
    ``DROPPED_FIRST`` columns left out in that order until they do (the others always stay)."""
    kept = list(range(len(headers)))
    droppable = [i for name in DROPPED_FIRST for i, header in enumerate(headers) if header == name]
    while width is not None and droppable and TABLE_EDGE + sum(
            _column_width(headers[i], [row[i] for row in rows]) for i in kept) > width:
        kept.remove(droppable.pop(0))
    return kept


def filled_table(title: str, headers: list[str], rows: list[list[str]], caption: str | None = None,
                 width: int | None = None) -> Table:
    """A table whose columns are never narrower than their longest word or cell: a narrow
    terminal wraps headers between words, never inside one ("temperature", not "temperatu/re"),
    and never cuts a number; where ``width`` cannot hold every column, the least needed go
    (``fitting_columns``) and the caption names them."""
    kept = fitting_columns(headers, rows, width)
    left_out = [headers[i] for i in range(len(headers)) if i not in kept]
    notes = [caption] if caption else []
    if left_out:
        notes.append(f"left out to fit {width} columns: {', '.join(left_out)} (a wider terminal, or --format csv, "
                     "shows them)")
    table = Table(title=title, caption="\n".join(notes) or None)
    natural = TABLE_EDGE + sum(max(len(headers[i]), *(len(row[i]) for row in rows)) + CELL_PADDING for i in kept)
    compact = width is not None and natural > width  # then each column as narrow as its longest word or cell
    for index in kept:
        widest = _column_width(headers[index], [row[index] for row in rows]) - CELL_PADDING
        table.add_column(headers[index], justify="left" if index == 0 else "right", min_width=widest,
                         width=widest if compact else None, overflow="fold")  # too narrow still: wrap, never "…"
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table


def trials_table(result: CampaignResult, width: int | None = None) -> Table:
    """One row per trial: params, what the choice read (select), what is reported (test), status,
    duration; the best trial (chosen on select) is starred (``filled_table`` fits it in ``width``)."""
    best_id = result.best.trial_id if result.best else None
    headers = ["trial", *(name.split(".")[-1] for name in result.param_names), "epochs", *SPLIT_COLUMNS,
               "status", "time (s)"]
    rows = [[r.trial_id + (" *" if r.trial_id == best_id else ""),
             *(fmt(r.params.get(p), 3) for p in result.param_names), fmt(r.epoch, 0),
             *(fmt(value) for value in (r.online_select_top1, r.linear_probe_select_top1, r.linear_probe_test_top1,
                                        r.knn_test_top1)), r.status, fmt(r.duration_s, 1)] for r in result.rows]
    starred = any(r.trial_id == best_id for r in result.rows)
    return filled_table(f"campaign {result.name}: {len(result.rows)} trials", headers, rows,
                        caption=BEST_NOTE if starred else None, width=width)


def status_records(overview: CampaignOverview) -> list[dict[str, object]]:
    """``dualtune status --format csv``, and the trials of ``--format json``: one flat record per
    trial, the params that differ between trials under their full dotted names (as numbers where
    they are), the rung metric and the scores unrounded, the epochs it trained, whether it is the best."""
    searched = varying_params([s.params for s in overview.trials])
    metrics = [m for m in (overview.rung_metric, *STATUS_METRICS) if m]
    return [{"trial_id": s.trial_id, "status": s.status, "best": s.trial_id == overview.best,
             **{p: s.params.get(p) for p in searched}, "epochs": s.epochs,
             **{m: s.metric(m) for m in dict.fromkeys(metrics)}, "duration_s": s.duration_s, "run_id": s.run_id}
            for s in overview.trials]


def status_document(overview: CampaignOverview) -> dict[str, object]:
    """``dualtune status --format json``: the campaign, what picks its best and what its search
    ranked by, its baselines, and its trials."""
    return {"campaign": overview.campaign, "best_trial": overview.best, "best_by": RANK_METRIC,
            "rung_metric": overview.rung_metric, "baselines": overview.baselines, "at_bound": overview.at_bound,
            "trials": status_records(overview)}


def baselines_line(baselines: dict[str, float]) -> str | None:
    """The baselines in one line: each representation's linear-probe and k-NN top-1 on test."""
    if not baselines:
        return None
    parts = []
    for name, label in reports.BASELINES.items():
        scores = [f"{what} {fmt(baselines[reports.baseline_key(name, key)])}"
                  for key, what in ((reports.LINEAR_PROBE_TEST_TOP1, "linear probe"), (reports.KNN_TEST_TOP1, "k-NN"))
                  if reports.baseline_key(name, key) in baselines]
        if scores:
            parts.append(f"{label}: {', '.join(scores)}")
    return "Baselines (the same probes, test top-1): " + "; ".join(parts)


def status_table(overview: CampaignOverview, width: int | None = None) -> Table:
    """``dualtune status``: one row per trial (the best starred), with the params that differ
    between trials, the rung metric the search ran on, the scores, and the baselines beneath
    (``filled_table`` fits it in ``width``)."""
    searched = varying_params([s.params for s in overview.trials])
    rung = [overview.rung_metric] if overview.rung_metric and overview.rung_metric not in STATUS_METRICS else []
    starred = any(s.trial_id == overview.best for s in overview.trials)
    notes = [BEST_NOTE if starred else None, *(f"note: {line}" for line in overview.at_bound),
             *(f"rung (select): {m}, what the search ranked trials by" for m in rung),
             baselines_line(overview.baselines)]
    headers = ["trial", "status", *(name.split(".")[-1] for name in searched), "epochs",
               *("rung (select)" for _ in rung), *SPLIT_COLUMNS, "time (s)"]
    rows = [[s.trial_id + (" *" if s.trial_id == overview.best else ""), s.status,
             *(fmt(s.params.get(p), 3) for p in searched), str(s.epochs),
             *(fmt(s.metric(m)) for m in (*rung, *STATUS_METRICS)), fmt(s.duration_s, 1)] for s in overview.trials]
    return filled_table(f"campaign {overview.campaign}: {len(overview.trials)} trials", headers, rows,
                        caption="\n".join(note for note in notes if note), width=width)


def ui_command(result: CampaignResult) -> str:
    """The command that serves the UI on the campaign's tracking store: its runs folder's, or the
    store it was given (a rerun from another folder into a campaign's store)."""
    if result.tracking_uri == Stores.default(RunsFolder(result.runs_dir)).tracking_uri:
        return f"dualtune ui --runs-dir {result.runs_dir}"
    return f"dualtune ui --tracking-uri {result.tracking_uri}"


def print_summary(result: CampaignResult, console: Console | None = None) -> None:
    """The trials table, where MLflow holds the runs, and the exported best config."""
    console = console or Console()
    console.print(trials_table(result, console.width))
    if result.baselines:
        console.print(baselines_line(result.baselines))
    console.print(f"MLflow tracking URI: {result.tracking_uri}  (experiment {result.experiment!r}"
                  + (f", parent run {result.parent_run_id})" if result.parent_run_id else ")"))
    shared_view = result.name if result.parent_run_id else None  # a campaign's trials; a pretrain's one run
    if is_server(result.tracking_uri):
        console.print(f"Browse it: {result.tracking_uri.rstrip('/')}/{ui_path(result.experiment_id, shared_view)}")
    else:
        console.print(f"Browse it: {ui_command(result)}, then open "
                      f"http://127.0.0.1:5000/{ui_path(result.experiment_id, shared_view)}", soft_wrap=True)
    if not result.mlflow_synced:
        console.print(f"[bold yellow]MLflow could not be brought up to date; when it is back: "
                      f"dualtune sync {result.name} --runs-dir {result.runs_dir}[/]", soft_wrap=True)
    if result.unfinished:
        console.print(f"[bold yellow]Campaign {result.name} stopped with {result.unfinished} trials unfinished "
                      f"(their runs show as KILLED); continue it: {resume_command(result.name, result.runs_dir)}[/]",
                      soft_wrap=True)
    waiting = [row.trial_id for row in result.rows if row.status == TrialStatus.NO_CAPACITY]
    if waiting:
        console.print(f"[bold yellow]{len(waiting)} trials found no room on the live nodes "
                      f"({TrialStatus.NO_CAPACITY}); once the cluster can hold them again: "
                      f"{resume_command(result.name, result.runs_dir, retry_errored=True)}[/]", soft_wrap=True)
    for line in result.at_bound:
        console.print(f"[bold yellow]Note: {line}[/]", soft_wrap=True)
    if result.exported:
        best = result.best
        chosen_on = fmt(best.linear_probe_select_top1)
        console.print(f"Best trial {best.trial_id} (chosen on select: linear probe {chosen_on}): "
                      f"linear-probe top-1 on test {fmt(best.linear_probe_test_top1)}")
        console.print(f"Best config: {result.exported}", soft_wrap=True)
        console.print(f"Rerun it: {rerun_command(result.exported, result.tracking_uri)}", soft_wrap=True)
    console.print(f"Wall time: {result.wall_time_s:.1f} s")
