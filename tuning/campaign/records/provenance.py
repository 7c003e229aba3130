"""Where a run came from: the code version it ran and the data it read, as MLflow tags."""
from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipelines.beton import fingerprint
from tuning.run.data import PreparedData

SOURCE_ROOT = Path(__file__).resolve().parents[3]


def code_version(root: Path = SOURCE_ROOT) -> dict[str, str]:
    """``code.git_commit`` and ``code.git_dirty`` (tracked files changed) for a git checkout,
    else ``code.version``: the installed package's version."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return {"code.git_commit": commit, "code.git_dirty": str(bool(changed)).lower()}
    except (OSError, subprocess.SubprocessError):
        try:
            return {"code.version": version("dualtune")}
        except PackageNotFoundError:
            return {"code.version": "unknown"}


def data_fingerprints(data: PreparedData) -> dict[str, str]:
    """``data.train_fingerprint`` / ``data.test_fingerprint``: cheap content fingerprints of the
    .beton files a campaign reads (pipelines.beton.fingerprint)."""
    return {"data.train_fingerprint": fingerprint(data.train), "data.test_fingerprint": fingerprint(data.test)}
