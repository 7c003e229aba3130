"""The ``dualtune`` command line."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Ray-distributed hyperparameter tuning for SSL pretraining (SimCLR/VICReg duality).")
spaces_app = typer.Typer(help="List and show search spaces.", invoke_without_command=True)
app.add_typer(spaces_app, name="spaces")
data_app = typer.Typer(help="Write .beton datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console() if sys.stdout.isatty() else Console(width=160)  # logs and pipes get full rows

logging.basicConfig(format="dualtune: %(levelname)s: %(message)s", level=logging.WARNING)

RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="where .beton caches, Ray results and mlflow.db live")
SET = typer.Option([], "--set", metavar="KEY=VALUE", help="set a config value, e.g. --set data.resolution=224 "
                                                           "(repeatable; the value is read as YAML)")
STORAGE = typer.Option(None, "--storage", help="Ray results and checkpoints: a shared path or URI (s3://...) "
                                              "every node reaches (default: RUNS_DIR/ray)")


def _short(value: str) -> str:
    """A param value as logged (a string), numbers to 4 significant digits."""
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value


def _fail(error: Exception) -> None:
    console.print(f"[bold red]error:[/] {error}")
    raise typer.Exit(code=2)


@app.command()
def tune(space: str = typer.Option("smoke", "--space", help="search space name or YAML path"),
         runs_dir: Path = RUNS_DIR,
         name: Optional[str] = typer.Option(None, help="campaign name (default: SPACE-timestamp)"),
         address: Optional[str] = typer.Option(None, help="Ray cluster address (auto, ray://host:port); "
                                                          "default: a private local cluster"),
         num_samples: Optional[int] = typer.Option(None, help="override the space's number of trials"),
         num_cpus: Optional[int] = typer.Option(None, help="logical CPUs of a local cluster"),
         storage: Optional[str] = STORAGE,
         resume: Optional[str] = typer.Option(None, "--resume", help="continue the campaign of this name"),
         set_values: list[str] = SET,
         verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v: Tune's progress table")):
    """Run a tuning campaign: Optuna search, ASHA early stopping, MLflow logging, best-config export."""
    from search_spaces.loader import load_space
    from tuning.campaign import resume_campaign, run_campaign
    from tuning.config import parse_assignments
    from tuning.report import print_summary

    try:
        if resume:
            if set_values:
                raise ValueError("--set cannot change a campaign being resumed; its trials keep their config")
            console.print(f"resuming campaign [bold]{resume}[/]")
            result = resume_campaign(resume, runs_dir, address=address, num_cpus=num_cpus, verbose=verbose)
        else:
            loaded = load_space(space)
            if num_samples is not None:
                loaded.num_samples = num_samples
            if set_values:
                loaded = loaded.with_base_values(parse_assignments(set_values))
            console.print(f"campaign on space [bold]{loaded.name}[/]: {loaded.description}")
            result = run_campaign(loaded, runs_dir, name=name, address=address, num_cpus=num_cpus, storage=storage,
                                  verbose=verbose)
    except (ValueError, FileExistsError, RuntimeError) as error:
        _fail(error)
    print_summary(result, console)


@app.command()
def pretrain(config: Optional[Path] = typer.Option(None, "--config", help="config YAML (e.g. an exported best)"),
             preset: Optional[str] = typer.Option(None, "--preset", help="preset name from search_spaces/presets"),
             data: Optional[Path] = typer.Option(None, "--data", help="train .beton (val: --val-data)"),
             val_data: Optional[Path] = typer.Option(None, "--val-data"),
             workers: Optional[int] = typer.Option(None, "--workers"),
             gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker"),
             epochs: Optional[int] = typer.Option(None, "--epochs"),
             set_values: list[str] = SET,
             runs_dir: Path = RUNS_DIR,
             address: Optional[str] = typer.Option(None, help="Ray cluster address (auto, ray://host:port)"),
             storage: Optional[str] = STORAGE):
    """Run one pretraining (the same code path as a campaign trial), logged as its own MLflow run."""
    from tuning.campaign import run_pretrain
    from tuning.config import parse_assignments
    from tuning.report import print_summary

    if (config is None) == (preset is None):
        _fail(ValueError("give exactly one of --config FILE or --preset NAME"))
    flags = {"data.train": data and str(data), "data.val": val_data and str(val_data),
             "resources.workers": workers, "resources.gpus_per_worker": gpus_per_worker,
             "schedule.epochs": epochs}
    try:
        overrides = {**{k: v for k, v in flags.items() if v is not None}, **parse_assignments(set_values)}
        result = run_pretrain(str(config) if config else preset, runs_dir, address=address, storage=storage,
                              overrides=overrides)
    except (ValueError, FileExistsError, RuntimeError) as error:
        _fail(error)
    print_summary(result, console)


@spaces_app.callback()
def spaces(ctx: typer.Context):
    """List the shipped search spaces and presets with a one-line description each."""
    if ctx.invoked_subcommand:
        return
    from search_spaces.loader import SPACES_DIR, list_presets, list_spaces

    for space in list_spaces():
        description = (yaml.safe_load((SPACES_DIR / f"{space}.yaml").read_text()) or {}).get("description", "")
        console.print(f"[bold]{space}[/]: {description}")
    console.print("presets: " + ", ".join(list_presets()))


@spaces_app.command("show")
def spaces_show(name: str):
    """Print a search space's YAML."""
    from search_spaces.loader import SearchSpaceError, load_space

    try:
        space = load_space(name)
    except (SearchSpaceError, ValueError) as error:
        _fail(error)
    console.print(Path(space.source).read_text(), markup=False)


@data_app.command("write")
def data_write(source: Path = typer.Option(..., "--source", help="ImageFolder root: SOURCE/<class>/<image>"),
               out: Path = typer.Option(..., "--out", help="the .beton file to write"),
               max_resolution: int = typer.Option(256, help="longest image side kept"),
               jpeg_quality: int = typer.Option(90),
               compress_probability: float = typer.Option(0.5, help="share of images stored as JPEG"),
               write_mode: str = typer.Option("proportion", help="raw | jpg | proportion | smart"),
               workers: int = typer.Option(1, help="decode/encode processes"),
               force: bool = typer.Option(False, "--force", help="overwrite an existing output")):
    """Write a class-per-folder image tree as a .beton (+ class-index file); corrupt images are skipped."""
    from pipelines.image_folder import write_image_folder

    try:
        summary = write_image_folder(source, out, max_resolution=max_resolution, jpeg_quality=jpeg_quality,
                                     compress_probability=compress_probability, write_mode=write_mode,
                                     workers=workers, force=force)
    except (ValueError, FileExistsError) as error:
        _fail(error)
    console.print(f"{summary['out']}: {summary['images']} images, {summary['classes']} classes, "
                  f"{summary['bytes'] / 1e6:.1f} MB, {summary['images_per_s']:.0f} images/s")
    if summary["skipped"]:
        console.print(f"skipped {len(summary['skipped'])} unreadable file(s):")
        for path, reason in summary["skipped"]:
            console.print(f"  {path}: {reason}", markup=False)


@data_app.command("digits")
def data_digits(out_dir: Path = typer.Option(Path("runs/data"), "--out-dir")):
    """Write the bundled scikit-learn digits (train/val, 32 px RGB) as .beton files."""
    from pipelines.beton import check_beton, ensure_digits_betons

    for path in ensure_digits_betons(out_dir):
        info = check_beton(path)
        console.print(f"{path}: {info['num_samples']} images, {len(info['classes'])} classes")


@app.command("duality-check")
def duality_check(checkpoint: Path = typer.Option(..., "--checkpoint", help="a trial's checkpoint_* folder"),
                  batch_size: int = typer.Option(256, help="validation images in the batch (N)"),
                  runs_dir: Path = RUNS_DIR,
                  run_id: Optional[str] = typer.Option(None, help="MLflow run to log to (default: a new run "
                                                                 "in experiment 'duality-check')")):
    """The paper's Table S4 for a checkpoint: L_c, L_nc, four-norm sums, Lemma 3.4 bounds; logged to MLflow."""
    from tuning.duality_check import run_duality_check
    from tuning.mlflow_logging import open_store

    try:
        report = run_duality_check(checkpoint, runs_dir / "data", batch_size)
        client, experiment_id = open_store(runs_dir / "mlflow.db", "duality-check")
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        _fail(error)
    created = run_id is None
    if created:
        run_id = client.create_run(experiment_id, tags={"dualtune.checkpoint": str(checkpoint)}).info.run_id
    for key, value in report.items():
        client.log_metric(run_id, f"duality/{key}", value)
    if created:
        client.set_terminated(run_id)
    for key, value in report.items():
        console.print(f"{key:>24}: {value:.6g}")
    console.print(f"logged to MLflow run {run_id}")


@app.command()
def status(campaign: str = typer.Argument(..., help="campaign name (as printed by dualtune tune)"),
           runs_dir: Path = RUNS_DIR):
    """A table of a campaign's trials from the MLflow store: status, params, metrics, time."""
    from rich.table import Table

    from tuning.campaign_store import trial_summaries, varying_params

    try:
        rows = trial_summaries(runs_dir, campaign)
    except ValueError as error:
        _fail(error)
    searched = varying_params(rows)
    table = Table(title=f"campaign {campaign}: {len(rows)} trials")
    for column in ["trial", "status", *(name.split(".")[-1] for name in searched), "epochs", "online top-1",
                   "linear-probe top-1", "time (s)"]:
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r["trial_id"], r["status"], *(_short(r["params"].get(p, "-")) for p in searched),
                      f"{r['epoch']:.0f}" if r["epoch"] is not None else "-",
                      *(f"{v:.2f}" if v is not None else "-" for v in (r["online_top1"], r["linear_probe_top1"],
                                                                        r["duration_s"])))
    console.print(table)


@app.command()
def export(campaign: str = typer.Argument(...), top: int = typer.Option(1, "--top", min=1),
           out_dir: Path = typer.Option(Path("exported"), "-o", "--out-dir"), runs_dir: Path = RUNS_DIR):
    """Write the top K completed trials of a campaign as runnable YAML configs."""
    from tuning.campaign_store import export_top

    try:
        paths = export_top(runs_dir, campaign, top, out_dir)
    except ValueError as error:
        _fail(error)
    for path in paths:
        console.print(f"{path}  (rerun: dualtune pretrain --config {path})")


@app.command()
def sync(campaign: str = typer.Argument(..., help="campaign name (as printed by dualtune tune)"),
         runs_dir: Path = RUNS_DIR):
    """Back-fill a campaign's MLflow runs from Tune's results (after an MLflow outage or a killed driver)."""
    from tuning.campaign import sync_campaign
    from tuning.report import print_summary

    try:
        result = sync_campaign(campaign, runs_dir)
    except (ValueError, RuntimeError) as error:
        _fail(error)
    print_summary(result, console)


@app.command()
def ui(runs_dir: Path = RUNS_DIR, host: str = typer.Option("127.0.0.1", help="interface to bind"),
       port: int = typer.Option(5000)):
    """Serve the MLflow UI on the campaigns' store (bound to 127.0.0.1 unless --host is given)."""
    from tuning.mlflow_logging import tracking_uri

    uri = tracking_uri(runs_dir / "mlflow.db")
    console.print(f"MLflow UI on http://{host}:{port} (store {uri}); Ctrl-C stops it")
    sys.stdout.flush()
    # Become the server process, so stopping this command stops the server.
    os.execv(sys.executable, [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
                              "--host", host, "--port", str(port)])


if __name__ == "__main__":
    app()
