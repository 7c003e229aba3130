"""A throwaway PostgreSQL cluster for a test (Debian's ``postgresql``: ``initdb`` +
``pg_ctl`` on a free loopback port, password authentication), and a real ``mlflow server``
backed by it.  PostgreSQL refuses to run as root: as root, its processes run as the
``postgres`` user the Debian package creates."""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import free_port, serving

USER = "dualtune"


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str

    def url(self, database: str) -> str:
        """The database's URL, without the password (dualtune refuses passwords in URLs: PGPASSWORD gives it)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def env(self, password: str | None = None) -> dict[str, str]:
        """The environment of a process that reaches the cluster (``password``: a wrong one)."""
        return {**os.environ, "PGPASSWORD": password or self.password}


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (Debian package postgresql; `make test` installs it)")
    return found[-1].parent


def _as_owner(root: Path) -> dict:
    """subprocess arguments that run a PostgreSQL program in ``root``, as a non-root user."""
    if os.geteuid() != 0:
        return {"cwd": root}
    return {"cwd": root, "user": "postgres", "group": pwd.getpwnam("postgres").pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres_cluster(databases: tuple[str, ...] = ("mlflow", "optuna")):
    """A PostgreSQL cluster on 127.0.0.1 with ``databases`` owned by user ``dualtune``;
    stopped and deleted afterwards."""
    import psycopg

    bin_dir, port, password = _bin_dir(), free_port(), "s3cret-pg"
    root = Path(tempfile.mkdtemp(prefix="dualtune-pg-"))  # not under pytest's root-only tmp folders
    data, pwfile, log = root / "data", root / "pwfile", root / "server.log"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    try:
        subprocess.run([bin_dir / "initdb", "-D", data, "-U", USER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, **_as_owner(root))
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c max_connections=200"
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"],
                       check=True, capture_output=True, **_as_owner(root))
        admin = psycopg.connect(host="127.0.0.1", port=port, user=USER, password=password, dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            for database in databases:
                cursor.execute(f"CREATE DATABASE {database}")
        admin.close()
        yield Postgres(port, password)
    finally:
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True,
                       **_as_owner(root))
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(postgres: Postgres, artifacts: Path, wait_s: float = 180):
    """``mlflow server`` with its runs in PostgreSQL database ``mlflow`` and artifacts proxied
    to the folder ``artifacts``; yields its URL once /health answers."""
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", postgres.url("mlflow"),
                "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1"]

    with serving(command, "/health", "mlflow server on PostgreSQL", env=postgres.env(), wait_s=wait_s) as (url, _):
        yield url
