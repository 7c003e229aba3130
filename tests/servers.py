"""A real server for a test: ``dualtune`` started on a free loopback port in its own
process group, waited for, and torn down with everything it started."""
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
def dualtune_server(args: list[str], probe_path: str, wait_s: float = 180):
    """Run ``dualtune ARGS --port PORT``; yield (url, port) once ``probe_path`` answers.  The
    servers' workers import MLflow or Optuna: slow to start on a busy 2-core machine."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tuning.cli", *args, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + wait_s
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{url}{probe_path}", timeout=5)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"dualtune {' '.join(args)} did not answer within {wait_s:.0f} s")
        yield url, port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
