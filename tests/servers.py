"""A real server for a test (``dualtune ui``, ``mlflow server``...) started on a free
loopback port in its own process group, waited for, and torn down with everything it started."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(command, probe_path: str, what: str, env: dict[str, str] | None = None, wait_s: float = 180):
    """Run ``command(port)`` on a free loopback port in its own process group; yield (url, port)
    once ``probe_path`` answers; stop it and everything it started afterwards."""
    port = free_port()
    server = subprocess.Popen(command(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + wait_s
        while time.time() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(f"{url}{probe_path}", timeout=5)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"{what} did not answer within {wait_s:.0f} s (exit code {server.poll()})")
        yield url, port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: a graceful stop can take longer
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@contextlib.contextmanager
def dualtune_server(args: list[str], probe_path: str, wait_s: float = 180):
    """Run ``dualtune ARGS --port PORT``; yield (url, port) once ``probe_path`` answers.  The
    servers' workers import MLflow or Optuna: slow to start on a busy 2-core machine."""
    with serving(lambda port: [sys.executable, "-m", "tuning.cli", *args, "--port", str(port)], probe_path,
                 f"dualtune {' '.join(args)}", wait_s=wait_s) as served:
        yield served
