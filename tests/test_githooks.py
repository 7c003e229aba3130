"""The commit-msg hook in .githooks/: a subject over 72 characters, or no blank line after the
subject, is refused; a short subject with a body passes.  The hook runs as git runs it."""
import subprocess
from pathlib import Path

import pytest

HOOK = Path(__file__).parents[1] / ".githooks" / "commit-msg"
pytestmark = pytest.mark.service  # runs the hook as a process


@pytest.mark.parametrize("message, accepted", [
    ("Resume keeps every trial's history\n\nWhy: Ray's logger rewrote it.\n", True),
    ("Short subject\n", True),
    ("x" * 73 + "\n\nbody\n", False),
    ("Subject\nbody without a blank line\n", False),
    ("# a comment git strips\nSubject\n", True),
])
def test_the_hook_checks_subject_length_and_the_blank_line(tmp_path, message, accepted):
    file = tmp_path / "COMMIT_EDITMSG"
    file.write_text(message)
    done = subprocess.run([str(HOOK), str(file)], capture_output=True, text=True)
    assert (done.returncode == 0) == accepted, done.stderr
