"""Where a campaign's records go: the flags and variables that choose the stores, what a
campaign records of them, passwords kept out, a journal file as Optuna storage, and a
shared store that is unreachable or refuses us stopping a command before any compute
(a real PostgreSQL cluster, a closed loopback port)."""
import subprocess
import sys

import optuna
import pytest
import yaml

from tests.postgres import postgres_cluster
from tests.servers import free_port
from tuning.campaign.paths import RunsFolder
from tuning.campaign.search.searcher import build_searcher
from tuning.campaign.search.state import command_stores
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace
from tuning.errors import ConfigError, StoreError


def test_a_given_store_wins_over_the_recorded_one_which_wins_over_the_default(tmp_path):
    runs = RunsFolder(tmp_path)
    default = Stores.default(runs)
    assert default == Stores(f"sqlite:///{tmp_path}/mlflow.db", f"sqlite:///{tmp_path}/optuna.db",
                             str(tmp_path / "mlartifacts"))
    recorded = Stores("http://mlflow.team:5000", "postgresql://ana@db.team/optuna", None)
    assert Stores.choose(runs, recorded=recorded) == recorded
    moved = Stores.choose(runs, "http://mlflow2.team:5000", None, recorded)
    assert moved == Stores("http://mlflow2.team:5000", "postgresql://ana@db.team/optuna", None)
    direct = Stores.choose(runs, "postgresql://ana@db.team/mlflow", "journal:relative/optuna.log")
    assert direct.artifact_root == str(tmp_path / "mlartifacts")  # a database keeps no artifacts: the runs folder
    assert direct.optuna_storage == f"journal:{(tmp_path.cwd() / 'relative/optuna.log')}"  # absolute for every node
    assert direct.study_file() == tmp_path.cwd() / "relative/optuna.log" and direct.tracking_file() is None


def test_a_sqlite_store_given_by_flag_keeps_its_artifacts_beside_it(tmp_path):
    """A rerun from another folder into a campaign's store adds to that store's artifacts, and the
    summary's browse line serves that store, not the folder the rerun ran from."""
    from tuning.campaign.records.results import CampaignResult
    from tuning.tables import ui_command

    campaign_folder, elsewhere = tmp_path / "campaign_runs", tmp_path / "elsewhere" / "runs"
    given = Stores.choose(RunsFolder(elsewhere), f"sqlite:///{campaign_folder}/mlflow.db")
    assert given.artifact_root == str(campaign_folder / "mlartifacts")

    def browse(runs_dir, tracking_uri):
        return ui_command(CampaignResult(name="r", rows=[], tracking_uri=tracking_uri, experiment="pretrain",
                                         experiment_id="1", parent_run_id=None, best=None, exported=None,
                                         runs_dir=runs_dir, storage="", wall_time_s=0.0))

    assert browse(elsewhere, given.tracking_uri) == f"dualtune ui --tracking-uri {given.tracking_uri}"
    own = Stores.default(RunsFolder(campaign_folder)).tracking_uri
    assert browse(campaign_folder, own) == f"dualtune ui --runs-dir {campaign_folder}"


@pytest.mark.parametrize("tracking, optuna_storage, message", [
    ("ftp://x/y", None, "--tracking-uri 'ftp://x/y' is not an MLflow tracking server"),
    ("mlruns", None, "--tracking-uri 'mlruns' is not"),
    (None, "redis://x", "--optuna-storage 'redis://x' is not an Optuna RDB URL .* nor journal:PATH"),
    (None, "journal:", "journal: needs a file path"),
])
def test_a_store_of_an_unknown_kind_is_refused_naming_what_is_allowed(tmp_path, tracking, optuna_storage, message):
    with pytest.raises(ConfigError, match=message):
        Stores.choose(RunsFolder(tmp_path), tracking, optuna_storage)


@pytest.mark.parametrize("tracking, optuna_storage", [
    ("postgresql://ana:hunter2@db/mlflow", None), (None, "postgresql://ana:hunter2@db/optuna"),
    ("https://ana:hunter2@mlflow.team", None)])
def test_a_password_in_a_url_is_refused_without_repeating_it(tmp_path, tracking, optuna_storage):
    with pytest.raises(ConfigError, match="holds a password.*PGPASSWORD") as refused:
        Stores.choose(RunsFolder(tmp_path), tracking, optuna_storage)
    assert "hunter2" not in str(refused.value) and "ana:***@" in str(refused.value)


def test_commands_on_a_checkpoint_find_the_stores_of_the_campaign_that_saved_it(tmp_path):
    from tuning.campaign.search.state import CampaignState
    from tuning.campaign.space import load_space
    from tuning.run.data import PreparedData

    runs = RunsFolder(tmp_path / "runs")
    shared = Stores("http://mlflow.team:5000", "postgresql://ana@db.team/optuna", None)
    CampaignState(name="c", space=load_space("smoke"), runs=runs, data=PreparedData("t", "v", 10, 20, 0),
                  experiment_id="1", parent_run_id="p", storage=str(tmp_path / "ray"), stores=shared).save()
    checkpoint = tmp_path / "ray" / "c" / "trial_0" / "checkpoint_000001"
    assert command_stores(runs, None, None, checkpoint=checkpoint) == shared
    assert command_stores(runs, None, None, campaign="c") == shared
    assert command_stores(runs, None, None, checkpoint=tmp_path / "elsewhere") == Stores.default(runs)


def test_a_journal_file_holds_the_study_a_campaign_searches(tmp_path):
    stores = Stores.choose(RunsFolder(tmp_path), None, f"journal:{tmp_path / 'shared' / 'optuna.log'}")
    (tmp_path / "shared").mkdir()
    space = SearchSpace(name="s", base="digits-simclr", num_samples=3, seed=1, metric="online_select_top1",
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    searcher = build_searcher(space, "journaled", stores)
    searcher.set_search_properties("online_select_top1", "max", {})
    sampled = searcher.suggest("t1")
    searcher.on_trial_complete("t1", {"online_select_top1": 42.0, "status": "completed"})
    study = optuna.load_study(study_name="journaled",
                              storage=optuna.storages.JournalStorage(
                                  optuna.storages.journal.JournalFileBackend(str(tmp_path / "shared" / "optuna.log"))))
    assert [(t.params["optim.base_lr"], t.value) for t in study.trials] == [(sampled["optim.base_lr"], 42.0)]


def _tune(runs, *args, env=None):
    return subprocess.run([sys.executable, "-m", "tuning.cli", "tune", "--space", "smoke", "--runs-dir", str(runs),
                           *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.service  # starts a process
def test_an_unreachable_or_refusing_store_stops_the_campaign_before_any_compute(tmp_path):
    runs = tmp_path / "runs"
    closed = _tune(runs, "--tracking-uri", f"http://127.0.0.1:{free_port()}")
    assert closed.returncode == 2
    assert "MLflow tracking server http://127.0.0.1:" in closed.stdout and "unreachable" in closed.stdout
    with postgres_cluster(databases=("optuna",)) as postgres:
        refused = _tune(runs, "--optuna-storage", postgres.url("optuna"), env=postgres.env(password="wrong"))
        assert refused.returncode == 2
        assert "is not authorised" in refused.stdout and "password authentication failed" in refused.stdout
        assert "wrong" not in refused.stdout
        down = postgres.url("optuna").replace(str(postgres.port), str(free_port()))
        unreachable = _tune(runs, "--optuna-storage", down, env=postgres.env())
        assert unreachable.returncode == 2 and "is unreachable" in unreachable.stdout
    assert not (runs / "data").exists() and not (runs / "ray").exists()  # no data written, no trial started
    assert list(runs.glob("*/campaign.json")) == []  # no campaign saved


def test_an_exported_config_records_the_stores_and_still_reruns(tmp_path):
    from tuning.campaign.records.export import export_config
    from tuning.config import load_config, validate_config

    cfg = validate_config({"loss": {"method": "vicreg"}})
    out = export_config(cfg, tmp_path / "best.yaml", {"tracking_uri": "http://mlflow.team:5000",
                                                      "optuna_storage": "postgresql://ana@db.team/optuna"})
    header = [line for line in out.read_text().splitlines() if line.startswith("#")]
    assert "# tracking_uri: http://mlflow.team:5000" in header
    assert "# optuna_storage: postgresql://ana@db.team/optuna" in header
    assert load_config(out) == cfg and yaml.safe_load(out.read_text())["loss"]["method"] == "vicreg"


def test_a_store_that_refuses_a_read_is_a_store_error_not_a_traceback(tmp_path):
    from tuning.campaign.records.history import campaign_overview

    with pytest.raises(StoreError, match="unreachable"):
        campaign_overview(Stores(f"http://127.0.0.1:{free_port()}", "sqlite:////nonexistent/o.db", None), "c")


def test_a_store_whose_creation_was_interrupted_leaves_nothing_to_trip_on(tmp_path):
    """Ctrl-C while MLflow built a new SQLite store's tables left a file that every later start
    refused ("table ... already exists"); the store is now created whole or not at all."""
    import sqlite3

    from mlflow.tracking import MlflowClient

    from tuning.campaign.records.tracking import open_store
    from tuning.campaign.services.stores import create_sqlite_whole

    database = tmp_path / "mlflow.db"

    def interrupted(url):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as half:
            half.execute("create table experiments (id integer)")  # some of the tables, then Ctrl-C
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_sqlite_whole(database, interrupted)
    assert not database.exists() and list(tmp_path.iterdir()) == []
    client, experiment_id = open_store(Stores.default(RunsFolder(tmp_path)), "again")
    assert client.get_experiment(experiment_id).name == "again"
    create_sqlite_whole(database, lambda url: MlflowClient(url).search_experiments())  # exists: kept as it is
    assert MlflowClient(f"sqlite:///{database}").get_experiment_by_name("again") is not None
