"""Real Ray nodes for a test, each a ``ray start --block`` in its own process group (as on
separate machines): a head node (optionally with its dashboard, for the Jobs API) and
worker nodes joining it.  Killing a worker node's process group takes its raylet and
every worker process on it, as when a machine goes away."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray

from tests.servers import free_port

RAY = str(Path(sys.executable).with_name("ray"))
FAST_FAILURE_DETECTION = {"RAY_health_check_period_ms": "2000", "RAY_health_check_failure_threshold": "5",
                          "RAY_health_check_timeout_ms": "5000"}  # a lost node is seen in ~10 s; a busy one is not lost


@dataclass
class Head:
    address: str  # host:port for --address
    dashboard: str | None  # http://127.0.0.1:PORT, the Jobs API
    temp_dir: Path
    log: Path


def _wait_until_started(node: subprocess.Popen, log: Path, wait_s: float = 120) -> None:
    """Until ``ray start`` says its node runs (what it prints before it would return without
    --block; its GCS port opens earlier, before a driver can join)."""
    deadline = time.time() + wait_s
    while time.time() < deadline and node.poll() is None:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    pytest.fail(f"ray start did not start its node within {wait_s:.0f} s:\n{log.read_text()[-3000:]}")


def _start(args: list[str], log: Path, env: dict[str, str] | None) -> subprocess.Popen:
    """``ray start`` with token authentication, as Ray sets up a cluster by default: every node
    and every driver here (dualtune finds ~/.ray/auth_token) use the same token."""
    subprocess.run([RAY, "get-auth-token", "--generate"], capture_output=True, check=True)  # kept if there
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **FAST_FAILURE_DETECTION, "RAY_AUTH_MODE": "token", **(env or {})})


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)  # a test's cluster has nothing left to save
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@contextlib.contextmanager
def ray_head(log_dir: Path, num_cpus: int, dashboard: bool = False, env: dict[str, str] | None = None):
    """A head node with ``num_cpus`` logical CPUs (and its dashboard on a free loopback port)."""
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="rh-", dir="/tmp"))  # short: Ray's socket paths live under it
    args = ["--head", f"--port={port}", f"--num-cpus={num_cpus}", f"--temp-dir={temp_dir}"]
    dashboard_url = None
    if dashboard:
        dashboard_port, agent_port = free_port(), free_port()
        args += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
                 f"--dashboard-agent-listen-port={agent_port}"]
        dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    log = log_dir / "head.log"
    head = _start(args, log, env)
    try:
        _wait_until_started(head, log)
        if dashboard_url:
            _wait_for_http(f"{dashboard_url}/api/version")
        yield Head(f"{ray.util.get_node_ip_address()}:{port}", dashboard_url, temp_dir, log)
    finally:
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_http(url: str, wait_s: float = 120) -> None:
    """Until ``url`` answers at all (Ray's token authentication answers 401 without a token)."""
    deadline = time.time() + wait_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not answer within {wait_s:.0f} s")


@contextlib.contextmanager
def worker_node(head: Head, num_cpus: int, log: Path):
    """A worker node joined to ``head``; kill it with ``kill_node``, else it stops afterwards."""
    node = _start([f"--address={head.address}", f"--num-cpus={num_cpus}"], log, None)
    try:
        _wait_until_started(node, log)
        yield node
    finally:
        _stop(node)


def kill_node(node: subprocess.Popen) -> None:
    """The node goes away at once: SIGKILL to its raylet and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGKILL)
    node.wait(timeout=30)


def wait_for_jobs_api(head: Head, wait_s: float = 120) -> None:
    """Until the head takes jobs: its dashboard answers before the agent that runs them has
    registered ("No available agent to submit job")."""
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    from ray.job_submission import JobStatus, JobSubmissionClient

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    client = JobSubmissionClient(head.dashboard)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        try:
            job = client.submit_job(entrypoint="true")
        except RuntimeError:
            time.sleep(1)
            continue
        while client.get_job_status(job) not in {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}:
            time.sleep(0.5)
        return
    pytest.fail(f"the Ray head at {head.dashboard} took no job within {wait_s:.0f} s")


def nodes_running(head: Head, class_name: str) -> dict[str, set[int]]:
    """node id -> pids of the live actors of ``class_name`` there (Ray's state API)."""
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    from ray.util.state import list_actors

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)  # the head asks for its token
    found: dict[str, set[int]] = {}
    for actor in list_actors(address=head.dashboard, filters=[("state", "=", "ALIVE"), ("class_name", "=", class_name)],
                             limit=1000, raise_on_missing_output=False):
        found.setdefault(actor.node_id, set()).add(actor.pid)
    return found
