"""A campaign on a real terminal (a pseudo-terminal here): the live panel and the summary, and
nothing else: no traceback, no Ray or FFCV line, no numba finalizer noise at exit (the libraries'
output stays in the campaign's driver.log until the process ends)."""
import os
import pty
import subprocess
import sys
import time

import pytest

from tests.spaces import write_tiny_space

pytestmark = pytest.mark.slow
NOISE = ("Traceback", "Exception ignored", "(raylet)", "bottleneck", "KeyError", "INFO", "WARNING")


def test_a_campaign_on_a_terminal_shows_only_the_panel_and_the_summary(tmp_path):
    space = tmp_path / "tty.yaml"
    write_tiny_space(space, "tty", num_samples=2, max_concurrent_trials=2, seed=2)
    primary, secondary = pty.openpty()
    driver = subprocess.Popen([sys.executable, "-m", "tuning.cli", "tune", "--space", str(space), "--name", "tty",
                               "--runs-dir", str(tmp_path / "runs"), "--num-cpus", "3"],
                              stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
                              env={**os.environ, "COLUMNS": "200", "TERM": "xterm"})
    os.close(secondary)
    seen, deadline = b"", time.time() + 600
    while time.time() < deadline:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        seen += chunk
    assert driver.wait(timeout=60) == 0, seen.decode(errors="replace")[-3000:]
    text = seen.decode(errors="replace")
    assert "campaign progress" in text and "campaign tty: 2 trials" in text and "Rerun it: dualtune pretrain" in text
    assert not [word for word in NOISE if word in text], text[-4000:]
    log = (tmp_path / "runs" / "tty" / "driver.log").read_text()
    assert log  # the libraries did speak: into the log
