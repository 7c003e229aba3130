"""The code version a run records: the checkout's commit and dirty flag, else the package's version."""
import subprocess
from pathlib import Path

import pytest

from tuning.campaign.records.provenance import SOURCE_ROOT, code_version

pytestmark = pytest.mark.service  # runs git


def test_a_checkout_records_its_commit_and_whether_tracked_files_changed(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.py").write_text("x = 1\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "f.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert code_version(tmp_path) == {"code.git_commit": head, "code.git_dirty": "false"}
    (tmp_path / "f.py").write_text("x = 2\n")
    assert code_version(tmp_path)["code.git_dirty"] == "true"


def test_outside_a_checkout_the_installed_version_is_recorded(tmp_path):
    assert set(code_version(tmp_path / "not-a-repo")) == {"code.version"}
    assert Path(SOURCE_ROOT, "tuning").is_dir()
