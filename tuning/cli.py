"""The ``dualtune`` command line: each command parses its flags, makes one call and prints.

Errors a user can fix (tuning.errors.USER_ERRORS) are reported by one handler, in one
line with exit code 2, instead of a traceback.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from tuning.campaign.services.stores import OPTUNA_ENV, TRACKING_ENV
from tuning.errors import USER_ERRORS, ConfigError
from tuning.exit_codes import EXPLAINED, ExitCode, campaign_exit_code

PIPE_WIDTH = 1000
"""Logs and pipes get whole rows: a table as wide as its cells, never cut at a terminal's width."""
console = Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our lines, not MLflow's download bars
logging.basicConfig(format="dualtune: %(levelname)s: %(message)s", level=logging.WARNING)


FLAG = ""  # the help shows no value placeholder for a flag: `--retry-errored`, not `--retry-errored <bool>`


def _as_flag(option):
    """A flag's option shown without a value placeholder in the help (``--help``, not ``--help <bool>``)."""
    if option is not None:
        option.metavar = FLAG
    return option


class _Commands(TyperGroup):
    """Runs a command; the one place user errors become a one-line message and exit code 2.
    Every command's ``--help`` is shown as the flag it is."""

    def get_help_option(self, ctx):
        return _as_flag(super().get_help_option(ctx))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is not None:
            _as_flag(command.get_help_option(ctx))
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C outside a campaign's own handler (a campaign stops gracefully)
            console.print("interrupted")
            raise typer.Exit(code=ExitCode.INTERRUPTED) from None
        except USER_ERRORS as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)  # commands in it paste whole
            raise typer.Exit(code=ExitCode.BAD_INPUT) from None


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  help="Ray-distributed hyperparameter tuning for SSL pretraining (SimCLR/VICReg duality).")
spaces_app = typer.Typer(cls=_Commands, help="List and show search spaces.", invoke_without_command=True)
app.add_typer(spaces_app, name="spaces")


def _print_version(asked: bool) -> None:
    if asked:
        import importlib.metadata

        console.print(f"dualtune {importlib.metadata.version('dualtune')}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", metavar=FLAG, callback=_print_version, is_eager=True,
                                      help="print dualtune's version and exit")):
    """Ray-distributed hyperparameter tuning for SSL pretraining (SimCLR/VICReg duality)."""
data_app = typer.Typer(cls=_Commands, help="Write .beton datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="where .beton caches, Ray results and mlflow.db live")
SET = typer.Option([], "--set", metavar="KEY=VALUE", help="set a config value, e.g. --set data.resolution=224 "
                                                           "(repeatable; the value is read as YAML)")
STORAGE = typer.Option(None, "--storage", help="Ray results and checkpoints: a shared path or URI (s3://...) "
                                              "every node reaches (default: RUNS_DIR/ray)")
ADDRESS = typer.Option(None, help="Ray cluster address (auto, ray://host:port); default: a private local cluster")
TRACKING_URI = typer.Option(None, "--tracking-uri", envvar=TRACKING_ENV, show_envvar=True,
                            help="MLflow tracking server (http://HOST:5000) or database; default: the one the "
                                 "campaign recorded, else RUNS_DIR/mlflow.db")
OPTUNA_STORAGE = typer.Option(None, "--optuna-storage", envvar=OPTUNA_ENV, show_envvar=True,
                              help="Optuna storage: an RDB URL (postgresql://USER@HOST/DB; password from "
                                   "PGPASSWORD or ~/.pgpass) or journal:PATH on a shared file system; default: the "
                                   "one the campaign recorded, else RUNS_DIR/optuna.db")
STATUS_FORMATS = ("table", "csv", "json")
EXIT_CODES = f"Exit codes: {EXPLAINED}."
RUN_ID = typer.Option(None, "--run-id", help="MLflow run to log to (default: the trial run that saved the "
                                           "checkpoint, else a new run)")


@app.command(epilog=EXIT_CODES)
def tune(space: str = typer.Option("smoke", "--space", help="search space name or YAML path"),
         runs_dir: Path = RUNS_DIR,
         name: Optional[str] = typer.Option(None, help="campaign name (default: SPACE-timestamp)"),
         address: Optional[str] = ADDRESS,
         num_samples: Optional[int] = typer.Option(None, help="override the space's number of trials (with "
                                                   "--extend: how many trials to add)"),
         num_cpus: Optional[int] = typer.Option(None, help="logical CPUs of a local cluster"),
         storage: Optional[str] = STORAGE,
         resume: Optional[str] = typer.Option(None, "--resume", help="continue the campaign of this name"),
         retry_errored: bool = typer.Option(False, "--retry-errored", metavar=FLAG,
                                            help="with --resume: also rerun errored trials from their last checkpoint"),
         extend: Optional[str] = typer.Option(None, "--extend", help="add --num-samples trials to this finished "
                                              "campaign (same Optuna study, same MLflow parent run)"),
         time_budget: Optional[str] = typer.Option(None, "--time-budget", help="launch no trial after this long "
                                                   "(e.g. 48h, 30m); running trials finish"),
         capacity_wait: Optional[str] = typer.Option(None, "--capacity-wait", help="how long a multi-worker trial "
                                                     "the live nodes can no longer hold (a node lost) waits for room, "
                                                     "then ends as no_capacity, resumable (default 10m)"),
         set_values: list[str] = SET,
         tracking_uri: Optional[str] = TRACKING_URI,
         optuna_storage: Optional[str] = OPTUNA_STORAGE,
         allow_failed: bool = typer.Option(False, "--allow-failed", metavar=FLAG,
                                           help="exit 0 when some trials raised but others completed"),
         verbose: int = typer.Option(0, "--verbose", "-v", count=True, metavar=FLAG, help="-v: Tune's progress table")):
    """Run a tuning campaign: Optuna search, ASHA early stopping, MLflow logging, best-config export.
    Stop it with Ctrl-C, SIGTERM or `dualtune stop CAMPAIGN`; continue it with --resume."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.search.control import parse_duration
    from tuning.campaign.search.driver import CampaignOptions, extend_campaign, resume_campaign, run_campaign
    from tuning.campaign.search.state import CampaignState, command_stores
    from tuning.campaign.space import load_space
    from tuning.config import parse_assignments
    from tuning.tables import print_summary

    options = CampaignOptions(
        runs_dir=runs_dir, address=address, num_cpus=num_cpus, verbose=verbose, show_progress=True,
        quiet_until_exit=True,
        stores=command_stores(RunsFolder(runs_dir), tracking_uri, optuna_storage, campaign=resume or extend),
        time_budget_s=parse_duration(time_budget, "--time-budget") if time_budget else None,
        capacity_wait_s=parse_duration(capacity_wait, "--capacity-wait") if capacity_wait else None)
    if resume and extend:
        raise ConfigError("--resume and --extend are two ways to continue a campaign: give one")
    if retry_errored and not resume:
        raise ConfigError("--retry-errored applies to --resume CAMPAIGN")
    if (resume or extend) and set_values:
        raise ConfigError("--set cannot change a campaign being continued; its trials keep their config")
    if resume:
        CampaignState.load(RunsFolder(runs_dir), resume)  # an unknown campaign is named before anything is said
        console.print(f"resuming campaign [bold]{resume}[/]")
        result = resume_campaign(resume, options, retry_errored=retry_errored)
    elif extend:
        if num_samples is None:
            raise ConfigError("--extend CAMPAIGN needs --num-samples N: how many trials to add")
        CampaignState.load(RunsFolder(runs_dir), extend)
        console.print(f"extending campaign [bold]{extend}[/] by {num_samples} trials")
        result = extend_campaign(extend, num_samples, options)
    else:
        loaded = load_space(space)
        if num_samples is not None:
            loaded.num_samples = num_samples
        if set_values:
            loaded = loaded.with_base_values(parse_assignments(set_values))
        epochs = loaded.base_config().schedule.epochs
        console.print(f"campaign on space [bold]{loaded.name}[/] as it runs: {loaded.num_samples} trials x {epochs} "
                      f"epochs, {loaded.sampler} + {loaded.scheduler.type}, ranked on {loaded.metric} (select)",
                      soft_wrap=True)
        result = run_campaign(loaded, options, name=name, storage=storage)
    print_summary(result, console)
    raise typer.Exit(code=campaign_exit_code(result, allow_failed))


@app.command()
def stop(campaign: str = typer.Argument(..., help="campaign name (as printed by dualtune tune)"),
         runs_dir: Path = RUNS_DIR):
    """Stop a running campaign: trials end at their last checkpoint, and `dualtune tune --resume` continues it."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.search.control import request_stop
    from tuning.campaign.statuses import resume_command

    pid = request_stop(RunsFolder(runs_dir), campaign)
    console.print(f"asked the driver of {campaign} (pid {pid}) to stop; it saves its state and exits. "
                  f"Continue with: {resume_command(campaign, runs_dir)}", soft_wrap=True)


@app.command(epilog=EXIT_CODES)
def pretrain(config: Optional[Path] = typer.Option(None, "--config", help="config YAML (e.g. an exported best)"),
             preset: Optional[str] = typer.Option(None, "--preset", help="preset name from search_spaces/presets"),
             data: Optional[Path] = typer.Option(None, "--data", help="train .beton (test: --test-data)"),
             test_data: Optional[Path] = typer.Option(None, "--test-data", help="test .beton: every reported "
                                                      "number is scored on it"),
             workers: Optional[int] = typer.Option(None, "--workers", help="DDP workers (resources.workers)"),
             gpus_per_worker: Optional[float] = typer.Option(None, "--gpus-per-worker",
                                                             help="GPUs of each worker (resources.gpus_per_worker)"),
             epochs: Optional[int] = typer.Option(None, "--epochs", help="pretraining epochs (schedule.epochs)"),
             set_values: list[str] = SET,
             runs_dir: Path = RUNS_DIR,
             address: Optional[str] = ADDRESS,
             storage: Optional[str] = STORAGE,
             tracking_uri: Optional[str] = TRACKING_URI,
             optuna_storage: Optional[str] = OPTUNA_STORAGE):
    """Run one pretraining (the same code path as a campaign trial), logged as its own MLflow run."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.search.driver import CampaignOptions, run_pretrain
    from tuning.campaign.services.stores import Stores
    from tuning.config import load_config, parse_assignments
    from tuning.tables import print_summary

    if (config is None) == (preset is None):
        raise ConfigError("give exactly one of --config FILE or --preset NAME")
    if config is not None:
        load_config(config)  # says so if the file is missing or not a config
    flags = {"data.train": data and str(data), "data.test": test_data and str(test_data),
             "resources.workers": workers, "resources.gpus_per_worker": gpus_per_worker,
             "schedule.epochs": epochs}
    overrides = {**{k: v for k, v in flags.items() if v is not None}, **parse_assignments(set_values)}
    stores = Stores.choose(RunsFolder(runs_dir), tracking_uri, optuna_storage)
    options = CampaignOptions(runs_dir=runs_dir, address=address, stores=stores, show_progress=True,
                              quiet_until_exit=True)
    result = run_pretrain(str(config) if config else preset, options, storage=storage, overrides=overrides)
    print_summary(result, console)
    raise typer.Exit(code=campaign_exit_code(result))


@spaces_app.callback()
def spaces(ctx: typer.Context):
    """List the shipped search spaces and presets with a one-line description each."""
    if ctx.invoked_subcommand:
        return
    from search_spaces import find_space, list_presets, list_spaces

    for space in list_spaces():
        description = (yaml.safe_load(find_space(space).read_text()) or {}).get("description", "")
        console.print(f"[bold]{space}[/]: {description}")
    console.print("presets: " + ", ".join(list_presets()))


@spaces_app.command("show")
def spaces_show(name: str):
    """Print a search space's YAML."""
    from tuning.campaign.space import load_space

    sys.stdout.write(Path(load_space(name).source).read_text())  # as the file is: `> my.yaml` loads again


@data_app.command("write")
def data_write(source: Path = typer.Option(..., "--source", help="ImageFolder root: SOURCE/<class>/<image>"),
               out: Path = typer.Option(..., "--out", help="the .beton file to write"),
               max_resolution: int = typer.Option(500, help="longest image side kept (FFCV's ImageNet recipe: 500)"),
               jpeg_quality: int = typer.Option(90, help="JPEG quality of compressed images (FFCV's recipe: 90)"),
               compress_probability: float = typer.Option(0.5, help="share of images stored as JPEG "
                                                                     "(FFCV's recipe: 0.5)"),
               write_mode: str = typer.Option("proportion", help="raw | jpg | proportion | smart"),
               classes_file: Optional[str] = typer.Option(None, "--classes-file", help="write only these classes "
                                                          "(one folder name or WordNet id a line), in this order; "
                                                          "'imagenet100' names the shipped ImageNet-100 list"),
               max_per_class: Optional[int] = typer.Option(None, "--max-per-class", help="at most N images a class, "
                                                           "drawn with --seed"),
               seed: int = typer.Option(0, "--seed", help="seed of the --max-per-class draw and of which images "
                                        "are stored as JPEG: the same folder and settings give the same file"),
               workers: int = typer.Option(1, help="decode/encode processes"),
               force: bool = typer.Option(False, "--force", metavar=FLAG, help="overwrite an existing output")):
    """Write a class-per-folder image tree as a .beton (+ class-index file); corrupt images are skipped."""
    from pipelines.image_folder import read_class_list, write_image_folder

    classes = read_class_list(classes_file) if classes_file else None
    summary = write_image_folder(source, out, max_resolution=max_resolution, jpeg_quality=jpeg_quality,
                                 compress_probability=compress_probability, write_mode=write_mode,
                                 workers=workers, classes=classes, max_per_class=max_per_class, seed=seed,
                                 force=force)
    console.print(f"{summary['out']}: {summary['images']} images, {summary['classes']} classes, "
                  f"{summary['bytes'] / 1e6:.1f} MB, {summary['images_per_s']:.0f} images/s")
    if summary["skipped"]:
        console.print(f"skipped {len(summary['skipped'])} unreadable file(s):")
        for path, reason in summary["skipped"]:
            console.print(f"  {path}: {reason}", markup=False)


DATA_DIR = typer.Option(None, "--out-dir", help="where the .beton files are written (once); default: RUNS_DIR/data, "
                        "the cache the campaigns of that runs folder read, so none writes them again")


def _write_bundled(name: str, out_dir: Path | None, runs_dir: Path, subset: int | None) -> None:
    from pipelines.beton import check_beton
    from pipelines.bundled import ensure_bundled_betons
    from tuning.campaign.paths import RunsFolder

    for path in ensure_bundled_betons(name, out_dir or RunsFolder(runs_dir).data_dir, subset):
        info = check_beton(path)
        console.print(f"{path.resolve()}: {info.num_samples} images, {len(info.classes)} classes", soft_wrap=True)


@data_app.command("digits")
def data_digits(out_dir: Optional[Path] = DATA_DIR, runs_dir: Path = RUNS_DIR):
    """Write the bundled scikit-learn digits (train/test, 32 px RGB) as .beton files."""
    _write_bundled("digits", out_dir, runs_dir, None)


@data_app.command("fashion-mnist")
def data_fashion_mnist(out_dir: Optional[Path] = DATA_DIR, runs_dir: Path = RUNS_DIR,
                       subset: Optional[int] = typer.Option(None, "--subset", help="train images kept, the same "
                                                            "number a class (seeded); default: all 60,000")):
    """Write Fashion-MNIST (Debian package dataset-fashion-mnist; 28 px; test = the official test split)."""
    _write_bundled("fashion-mnist", out_dir, runs_dir, subset)


@app.command()
def study(name: str = typer.Argument(..., help="study name (e.g. paper-fmnist) or YAML path"),
          part: str = typer.Option("main", "--part", help="tune (the tuning arms), main (the variants' reruns and "
                                   "their analyses), one of the study's figure parts, all (each in order), or "
                                   "analyses (the main part's analyses again, its analysed seed retrained)"),
          runs_dir: Path = RUNS_DIR,
          report: Path = typer.Option(Path("docs/reproduction.md"), "--report", help="the report to write; each "
                                      "part's outcome is saved in the folder beside it named after it"),
          report_only: bool = typer.Option(False, "--report-only", metavar=FLAG,
                                           help="rewrite the report from the saved outcomes without running anything"),
          address: Optional[str] = ADDRESS,
          num_cpus: Optional[int] = typer.Option(None, help="logical CPUs of a local cluster"),
          tracking_uri: Optional[str] = TRACKING_URI,
          optuna_storage: Optional[str] = OPTUNA_STORAGE,
          verbose: int = typer.Option(0, "--verbose", "-v", count=True, metavar=FLAG,
                                      help="-v: Tune's progress table")):
    """Run a part of a study of the paper (the tuning arms of equal budget, every variant rerun over seeds,
    or a figure), save its outcome beside the report, and rewrite the report from every part saved."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.search.driver import CampaignOptions
    from tuning.campaign.services.stores import Stores
    from tuning.reproduction.study import conduct, load_study

    options = None if report_only else CampaignOptions(
        runs_dir=runs_dir, address=address, num_cpus=num_cpus, verbose=verbose, show_progress=True,
        stores=Stores.choose(RunsFolder(runs_dir), tracking_uri, optuna_storage))
    written = conduct(load_study(name), report, None if report_only else part, options, announce=console.print)
    if written is not None:
        console.print(f"report: {written}")


@app.command("duality-check")
def duality_check(checkpoint: Path = typer.Option(..., "--checkpoint", help="a trial's checkpoint_* folder"),
                  batch_size: int = typer.Option(256, help="validation images in the batch (N)"),
                  runs_dir: Path = RUNS_DIR,
                  run_id: Optional[str] = RUN_ID,
                  tracking_uri: Optional[str] = TRACKING_URI):
    """The paper's Table S4 for a checkpoint: L_c, L_nc, four-norm sums, Lemma 3.4 bounds; logged to MLflow."""
    from tuning.analysis.duality_check import run_duality_check
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.records.tracking import log_checkpoint_metrics
    from tuning.campaign.search.state import command_stores

    runs = RunsFolder(runs_dir)
    stores = command_stores(runs, tracking_uri, None, checkpoint=checkpoint)
    report = run_duality_check(checkpoint, runs.data_dir, batch_size)
    logged_to = log_checkpoint_metrics(stores, checkpoint, report, "duality", run_id)
    for key, value in report.items():
        console.print(f"{key:>24}: {value:.6g}")
    console.print(f"logged to MLflow run {logged_to}")


@app.command()
def analyze(checkpoint: list[Path] = typer.Option(..., "--checkpoint", help="a trial's checkpoint_* folder; "
                                                  "two or more add linear CKA between them"),
            name: list[str] = typer.Option([], "--name", help="a label per checkpoint (default: its trial folder)"),
            images: int = typer.Option(1024, min=2, help="images of each sample (test images; train images "
                                       "fitted on, for the spectra and RankMe): fixed seeded samples, the same "
                                       "for every checkpoint (raised to the widest representation or embedding)"),
            out: Optional[Path] = typer.Option(None, "--out", help="folder for the PNGs and the HTML page "
                                               "(default: RUNS_DIR/analysis-TIMESTAMP)"),
            runs_dir: Path = RUNS_DIR,
            tracking_uri: Optional[str] = TRACKING_URI):
    """The paper's representation analyses of checkpoints: spectra (Fig. S5), negative-pair cosines (Fig. S4),
    Gram/covariance (Fig. S8), Table S4, linear CKA (Fig. S2); logged on each checkpoint's MLflow run."""
    from tuning.analysis.side_by_side import analyze_checkpoints
    from tuning.campaign.paths import RunsFolder, timestamped
    from tuning.campaign.records.tracking import log_checkpoint_metrics
    from tuning.campaign.search.state import command_stores

    runs = RunsFolder(runs_dir)
    stores = command_stores(runs, tracking_uri, None, checkpoint=checkpoint[0])
    labels = name or [Path(c).resolve().parent.name for c in checkpoint]
    report = analyze_checkpoints(checkpoint, labels, runs.data_dir, images, out or runs.root / timestamped("analysis"))
    for index, path in enumerate(checkpoint):
        metrics = report.metrics_of(index)
        logged_to = log_checkpoint_metrics(stores, path, metrics, "analysis", artifacts=report.files)
        console.print(f"[bold]{escape(labels[index])}[/] (MLflow run {logged_to})")
        for key, value in metrics.items():
            console.print(f"{key:>36}: {value:.6g}")
    console.print(f"figures and page: {report.files[-1].parent}")


@app.command("eval")
def evaluate(checkpoint: Path = typer.Option(..., "--checkpoint", help="a trial's checkpoint_* folder"),
             set_values: list[str] = typer.Option([], "--set", metavar="probe.KEY=VALUE", help="change a probe "
                                                  "setting, e.g. --set probe.offline_mode=augmented"),
             runs_dir: Path = RUNS_DIR, run_id: Optional[str] = RUN_ID,
             tracking_uri: Optional[str] = TRACKING_URI):
    """Rerun the offline linear probe and k-NN on a saved backbone; logged as eval/* on its trial's MLflow run."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.records.tracking import log_checkpoint_metrics
    from tuning.campaign.search.state import command_stores
    from tuning.config import parse_assignments
    from tuning.run.evaluation import evaluate_checkpoint, probe_params
    from tuning.tables import fmt

    runs = RunsFolder(runs_dir)
    stores = command_stores(runs, tracking_uri, None, checkpoint=checkpoint)
    cfg, results = evaluate_checkpoint(checkpoint, runs.data_dir, parse_assignments(set_values))
    logged_to = log_checkpoint_metrics(stores, checkpoint, results, "eval", run_id, probe_params(cfg))
    for key, value in results.items():
        console.print(f"{key:>26}: {fmt(value, 3)}")
    console.print(f"logged to MLflow run {logged_to}")


@app.command()
def status(campaign: str = typer.Argument(..., help="campaign name (as printed by dualtune tune)"),
           runs_dir: Path = RUNS_DIR,
           output_format: str = typer.Option("table", "--format", help="table | csv | json (for scripts)"),
           tracking_uri: Optional[str] = TRACKING_URI):
    """A campaign's trials from the MLflow store: status, params, metrics, time; when its driver
    is gone (killed, its node lost), its unfinished trials show as stopped, with the command that
    continues them."""
    import csv
    import json

    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.records.history import campaign_overview
    from tuning.campaign.search.control import driver_running, recorded_driver
    from tuning.campaign.search.state import command_stores
    from tuning.campaign.statuses import resume_command
    from tuning.tables import status_document, status_records, status_table

    if output_format not in STATUS_FORMATS:
        raise ConfigError(f"--format {output_format!r} is not one of {', '.join(STATUS_FORMATS)}")
    runs = RunsFolder(runs_dir)
    stores = command_stores(runs, tracking_uri, None, campaign=campaign)
    overview = campaign_overview(stores, campaign)
    driver = recorded_driver(runs, campaign)
    if driver is not None and not driver_running(driver):
        overview = overview.driver_gone()
    resume = resume_command(campaign, runs.root) if overview.resumable and driver is not None else None
    if output_format == "table":
        console.print(status_table(overview, console.width))
        if resume:
            console.print(f"[bold yellow]Campaign {campaign} is stopped; continue it: {resume}[/]", soft_wrap=True)
    elif output_format == "json":
        sys.stdout.write(json.dumps({**status_document(overview), "resume": resume}, indent=1) + "\n")
    else:
        records = status_records(overview)
        writer = csv.DictWriter(sys.stdout, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


@app.command()
def export(campaign: str = typer.Argument(...), top: int = typer.Option(1, "--top", min=1),
           out_dir: Path = typer.Option(Path("exported"), "-o", "--out-dir"), runs_dir: Path = RUNS_DIR,
           tracking_uri: Optional[str] = TRACKING_URI):
    """Write the top K completed trials of a campaign as runnable YAML configs, ranked by their
    linear probe on select (linear_probe_select_top1), as the campaign's own export picks its best."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.records.export import export_top, rerun_command
    from tuning.campaign.search.state import command_stores

    stores = command_stores(RunsFolder(runs_dir), tracking_uri, None, campaign=campaign)
    for path in export_top(stores, campaign, top, out_dir):
        console.print(f"{path}  (rerun: {rerun_command(path, stores.tracking_uri)})", soft_wrap=True)


@app.command()
def sync(campaign: str = typer.Argument(..., help="campaign name (as printed by dualtune tune)"),
         runs_dir: Path = RUNS_DIR, tracking_uri: Optional[str] = TRACKING_URI,
         optuna_storage: Optional[str] = OPTUNA_STORAGE):
    """Back-fill a campaign's MLflow runs from Tune's results (after an MLflow outage or a killed driver)."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.search.driver import sync_campaign
    from tuning.campaign.search.state import command_stores
    from tuning.tables import print_summary

    stores = command_stores(RunsFolder(runs_dir), tracking_uri, optuna_storage, campaign=campaign)
    print_summary(sync_campaign(campaign, runs_dir, stores), console)


@app.command()
def replay(campaign: Optional[str] = typer.Argument(None, help="a finished campaign to replay under other scheduler "
                                                   "settings (or give --table)"),
           runs_dir: Path = RUNS_DIR,
           scheduler: str = typer.Option("asha", "--scheduler", help="fifo | asha | hyperband"),
           grace: list[int] = typer.Option([1], "--grace", help="grace period in epochs (repeatable: a grid)"),
           eta: list[float] = typer.Option([2.0], "--eta", help="reduction factor (repeatable: a grid)"),
           brackets: int = typer.Option(3, "--brackets", help="hyperband's brackets"),
           table: Optional[Path] = typer.Option(None, "--table", help="a recorded learning-curve table folder "
                                                "(benchmarks/results/curve_table) to replay strategies over"),
           grid: str = typer.Option("simclr", "--grid", help="with --table: the table's grid"),
           strategy: list[str] = typer.Option([], "--strategy", help="with --table: a strategy's name or the start "
                                              "of it (repeatable; default: all)"),
           seeds: int = typer.Option(30, "--seeds", min=1, help="with --table: seeds of each strategy"),
           budget: list[int] = typer.Option([8, 16, 32], "--budget", help="with --table: budgets in full-trial "
                                            "equivalents (repeatable)")):
    """Replay recorded curves through the real Tune schedulers and the Optuna searcher: a finished
    campaign's trials under other scheduler settings (epochs saved, whether its best survives,
    regret), or search strategies over a recorded table (many seeds, 95% intervals)."""
    from tuning.campaign.replay.report import campaign_replay_lines, table_replay_lines

    if (campaign is None) == (table is None):
        raise ConfigError("give a campaign to replay, or --table FOLDER, not both")
    if table is not None:
        lines = table_replay_lines(table, grid, strategy, seeds, budget)
    else:
        lines = campaign_replay_lines(campaign, runs_dir, scheduler, grace, eta, brackets)
    for line in lines:
        console.print(escape(line), soft_wrap=True)


@app.command()
def ui(runs_dir: Path = RUNS_DIR, host: str = typer.Option("127.0.0.1", help="interface to bind"),
       port: Optional[int] = typer.Option(None, help="default: 5000 (MLflow), 8080 (--optuna)"),
       optuna: bool = typer.Option(False, "--optuna", metavar=FLAG, help="optuna-dashboard on the campaigns' Optuna "
                                   "studies (live: it reads the study storage while campaigns run)"),
       workers: int = typer.Option(1, min=1, help="MLflow server processes (one serves a person browsing; "
                                   "MLflow's default of 4 each import MLflow, slow to start on a small machine)"),
       tracking_uri: Optional[str] = TRACKING_URI,
       optuna_storage: Optional[str] = OPTUNA_STORAGE):
    """Serve the MLflow UI (or optuna-dashboard) on the campaigns' stores, bound to 127.0.0.1 unless --host.
    A tracking server needs no UI from here: open its own address."""
    from tuning.campaign.paths import RunsFolder
    from tuning.campaign.private_apis import optuna_dashboard_command
    from tuning.campaign.services.stores import Stores, is_server

    runs = RunsFolder(runs_dir)
    stores = Stores.choose(runs, tracking_uri, optuna_storage)
    if optuna:
        if stores.study_file() is not None and not stores.study_file().is_file():
            raise ConfigError(f"no Optuna study storage at {stores.study_file()}; run a campaign first (dualtune tune)")
        url = stores.dashboard_storage()
        port = port or 8080
        command = optuna_dashboard_command(url, host, port)
    elif is_server(stores.tracking_uri):
        console.print(f"the campaigns are on the MLflow tracking server {stores.tracking_uri}: open it there")
        return
    else:
        url = stores.tracking_uri
        port = port or 5000
        command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", url, "--host", host,
                   "--port", str(port), "--workers", str(workers)]
    console.print(f"{'optuna-dashboard' if optuna else 'MLflow UI'} on http://{host}:{port} (store {url}); "
                  "Ctrl-C stops it")
    sys.stdout.flush()
    os.execv(sys.executable, command)  # become the server process, so stopping this command stops the server


if __name__ == "__main__":
    app()
