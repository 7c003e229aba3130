"""Where a campaign's records live: the MLflow tracking store and the Optuna study storage.

By default both are SQLite files under ``--runs-dir`` (one person, one head node).  A team
points every command at shared services instead: ``--tracking-uri`` (or
``MLFLOW_TRACKING_URI``) names an MLflow tracking server (``http://host:5000``) or its
database, and ``--optuna-storage`` (or ``DUALTUNE_OPTUNA_STORAGE``) an Optuna RDB URL
(``postgresql://user@host/db``) or a journal file on a shared file system
(``journal:/shared/optuna.log``; SQLite is unsafe on NFS).

Passwords never travel in these URLs: a campaign saves where its stores are (its state,
Tune's saved searcher, its exported config), so a URL holding a password is refused.  They
come from the drivers' own settings: ``PGPASSWORD`` or ``~/.pgpass`` (PostgreSQL),
``MYSQL_PWD`` (MySQL), ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or
``MLFLOW_TRACKING_TOKEN`` (an MLflow server).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from tuning.campaign.paths import RunsFolder
from tuning.errors import ConfigError, StoreError

TRACKING_ENV = "MLFLOW_TRACKING_URI"
OPTUNA_ENV = "DUALTUNE_OPTUNA_STORAGE"
JOURNAL_PREFIX = "journal:"
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql")  # each with an optional +driver, as SQLAlchemy reads them
SERVER_SCHEMES = ("http", "https")
CONNECT_TIMEOUT_S = 10


def sqlite_uri(path: Path) -> str:
    """An absolute SQLite URL (Ray changes every worker's working directory)."""
    return f"sqlite:///{Path(path).resolve()}"


def _scheme(url: str) -> str:
    """``postgresql+psycopg2://...`` -> ``postgresql``."""
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def is_server(tracking_uri: str) -> bool:
    """Whether the tracking URI is an MLflow tracking server (else a database MLflow opens itself)."""
    return _scheme(tracking_uri) in SERVER_SCHEMES


def _check_no_password(url: str, flag: str) -> None:
    if "://" in url and urlsplit(url).password is not None:
        raise ConfigError(f"{flag} {redact(url)} holds a password, which would be saved with the campaign's "
                          "state; drop it from the URL and give it through the driver's own setting: PGPASSWORD or "
                          "~/.pgpass (PostgreSQL), MYSQL_PWD (MySQL), MLFLOW_TRACKING_PASSWORD (an MLflow server)")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def check_tracking_uri(uri: str) -> str:
    """``uri`` if it names a tracking store dualtune can use: an MLflow server or a database."""
    if _scheme(uri) not in SERVER_SCHEMES + DATABASE_SCHEMES:
        raise ConfigError(f"--tracking-uri {uri!r} is not an MLflow tracking server (http://HOST:PORT) nor a "
                          f"database MLflow opens ({', '.join(s + '://...' for s in DATABASE_SCHEMES)})")
    _check_no_password(uri, "--tracking-uri")
    return uri


def check_optuna_storage(url: str) -> str:
    """``url`` if it names an Optuna storage: an RDB URL or ``journal:PATH``."""
    if url.startswith(JOURNAL_PREFIX):
        if not url[len(JOURNAL_PREFIX):]:
            raise ConfigError("--optuna-storage journal: needs a file path, e.g. journal:/shared/optuna.log")
        return url
    if _scheme(url) not in DATABASE_SCHEMES:
        raise ConfigError(f"--optuna-storage {url!r} is not an Optuna RDB URL "
                          f"({', '.join(s + '://...' for s in DATABASE_SCHEMES)}) nor journal:PATH "
                          "(a journal file, for shared file systems)")
    _check_no_password(url, "--optuna-storage")
    return url


def _artifacts_of(tracking_uri: str, runs: RunsFolder) -> Path:
    """Where a tracking database's new experiments keep artifacts: beside a SQLite file (as
    ``--runs-dir``'s own ``mlartifacts/``), else in ``--runs-dir``."""
    database = _sqlite_file(tracking_uri)
    return database.parent / runs.mlflow_artifacts.name if database else runs.mlflow_artifacts


@dataclass(frozen=True)
class Stores:
    """The MLflow tracking URI and the Optuna storage URL of a campaign (never with passwords),
    and where experiments that dualtune creates in a tracking database keep their artifacts
    (None on a tracking server, which has its own artifact store)."""
    tracking_uri: str
    optuna_storage: str
    artifact_root: str | None

    @classmethod
    def default(cls, runs: RunsFolder) -> Stores:
        """The SQLite files under ``--runs-dir``, artifacts in its mlartifacts/ folder."""
        return cls(sqlite_uri(runs.mlflow_db), sqlite_uri(runs.optuna_db), str(runs.mlflow_artifacts))

    @classmethod
    def choose(cls, runs: RunsFolder, tracking_uri: str | None = None, optuna_storage: str | None = None,
               recorded: Stores | None = None) -> Stores:
        """The stores a command uses: what it was given (flag or environment variable), else
        what the campaign recorded, else the SQLite files under ``--runs-dir``.  A SQLite tracking
        file keeps its artifacts beside it (a rerun from another folder adds to the store's own)."""
        fallback = recorded or cls.default(runs)
        if tracking_uri:
            tracking = check_tracking_uri(tracking_uri)
            artifact_root = None if is_server(tracking) else str(_artifacts_of(tracking, runs))
        else:
            tracking, artifact_root = fallback.tracking_uri, fallback.artifact_root
        optuna_url = check_optuna_storage(_absolute_journal(optuna_storage)) if optuna_storage else None
        return cls(tracking, optuna_url or fallback.optuna_storage, artifact_root)

    @classmethod
    def from_dict(cls, recorded: dict[str, str | None] | None, runs: RunsFolder) -> Stores:
        """The stores a campaign's state recorded (states saved before stores were recorded: the defaults)."""
        return cls(**recorded) if recorded else cls.default(runs)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def tracking_file(self) -> Path | None:
        """The tracking store's SQLite file, when it is one."""
        return _sqlite_file(self.tracking_uri)

    def study_file(self) -> Path | None:
        """The Optuna storage's SQLite or journal file, when it is one."""
        if self.optuna_storage.startswith(JOURNAL_PREFIX):
            return Path(self.optuna_storage[len(JOURNAL_PREFIX):])
        return _sqlite_file(self.optuna_storage)

    def local_files(self) -> list[Path]:
        """The store files on this machine's file system (SQLite databases, a journal)."""
        return [f for f in (self.tracking_file(), self.study_file()) if f is not None]

    def study_storage(self):
        """The Optuna storage (one named study per campaign)."""
        import optuna

        if self.optuna_storage.startswith(JOURNAL_PREFIX):
            backend = optuna.storages.journal.JournalFileBackend(self.optuna_storage[len(JOURNAL_PREFIX):])
            return optuna.storages.JournalStorage(backend)
        return _rdb_storage(self.optuna_storage)

    def dashboard_storage(self) -> str:
        """The storage as optuna-dashboard's command line takes it (a URL or a journal file's path)."""
        return self.optuna_storage.removeprefix(JOURNAL_PREFIX)

    def check_reachable(self) -> None:
        """Fail early, naming the store, when a shared store cannot be reached or refuses us
        (MLflow's own client would retry for minutes first)."""
        if is_server(self.tracking_uri):
            _check_server(self.tracking_uri)
        elif self.tracking_file() is None:
            _check_database(self.tracking_uri, "MLflow tracking database")
        if self.study_file() is None:
            _check_database(self.optuna_storage, "Optuna storage")


def _sqlite_file(url: str) -> Path | None:
    return Path(url.split(":///", 1)[1]) if _scheme(url) == "sqlite" else None


def _absolute_journal(url: str) -> str:
    if url.startswith(JOURNAL_PREFIX) and url[len(JOURNAL_PREFIX):]:
        return JOURNAL_PREFIX + str(Path(url[len(JOURNAL_PREFIX):]).resolve())
    return url


def create_sqlite_whole(database: Path, create: Callable[[str], object]) -> None:
    """Create a SQLite store that does not exist yet as a whole: ``create(url)`` builds its schema
    under a temporary name, which then becomes ``database`` in one step.  MLflow and Optuna create
    their tables one by one, so a process stopped meanwhile (Ctrl-C at start-up) would leave a file
    no later start can use.  A store another process created meanwhile is kept, not replaced."""
    if database.exists():
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(f".{database.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        create(sqlite_uri(partial))
        try:
            os.link(partial, database)  # fails where another process got there first
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)


def _rdb_storage(url: str, attempts: int = 5):
    """Optuna's RDB storage.  Two campaigns opening a fresh database at once both create
    Optuna's tables; the one that loses that race (a unique violation, rolled back) opens it
    again once the other's tables exist."""
    import optuna
    import sqlalchemy

    database = _sqlite_file(url)
    if database is not None:
        create_sqlite_whole(database, lambda partial: optuna.storages.RDBStorage(partial))
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
        except sqlalchemy.exc.IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)


def _engine_kwargs(url: str) -> dict:
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}} if _scheme(url) == "postgresql" else {}


def _check_database(url: str, what: str) -> None:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        engine = sqlalchemy.create_engine(url, poolclass=NullPool, **_engine_kwargs(url))
        with engine.connect():
            pass
    except ModuleNotFoundError as error:
        raise StoreError(f"the {what} {url} needs the Python driver {error.name!r}, which is not installed") from None
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        refused = "authentication failed" in reason or "access denied" in reason.lower()
        hint = ("not authorised: check the user in the URL and its password (PGPASSWORD or ~/.pgpass, MYSQL_PWD)"
                if refused else "unreachable: is the server running, and is the host and port right?")
        raise StoreError(f"the {what} {url} is {hint} ({reason})") from None


def _check_server(uri: str) -> None:
    """One request to the server's REST API, with MLflow's own credentials from the environment."""
    import requests

    username, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        reply = requests.get(f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                             auth=(username, password) if username else None, headers=headers,
                             timeout=CONNECT_TIMEOUT_S)
    except requests.RequestException as error:
        raise StoreError(f"the MLflow tracking server {uri} is unreachable: is it running, and is the host and "
                         f"port right? ({type(error).__name__})") from None
    if reply.status_code in (401, 403):
        raise StoreError(f"the MLflow tracking server {uri} refused us (HTTP {reply.status_code}): set "
                         "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)")
    if not reply.ok:
        raise StoreError(f"the MLflow tracking server {uri} answered HTTP {reply.status_code} to a search of "
                         "experiments: is it an MLflow server?")
