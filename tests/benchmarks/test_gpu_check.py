"""The GPU check's own machinery, on this CPU-only machine: its one line without CUDA, its report
rendered from a stored example, and its time guard ending a step that overruns."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import gpu_check

EXAMPLE = Path(__file__).with_name("gpu_check_example.json")


def test_without_cuda_it_prints_one_line_and_exits_0(capsys, tmp_path):
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == gpu_check.NO_GPU + "\n"
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.service
def test_the_command_without_cuda_prints_its_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check"], capture_output=True, text=True,
                          env={"OUT": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout.strip()) == (0, gpu_check.NO_GPU)


def test_the_report_renders_a_stored_example(tmp_path):
    results = [gpu_check.StepResult(**row) for row in json.loads(EXAMPLE.read_text())]
    report = gpu_check.write_report(results, tmp_path).read_text()
    assert "| tests | ok | 41 |" in report
    assert "| compile | timed out | 60 | killed at the step's budget |" in report
    assert "| 224 | 2100 | 2400 | 0.88 | 4.0% | 17.5 | 2600 | **0.81** |" in report
    assert "GPUs visible to each [1, 1], 2 MLflow child runs" in report
    assert json.loads((tmp_path / "gpu_check.json").read_text())[1]["figures"]["gpu"] == "NVIDIA H100 80GB HBM3"


@pytest.mark.service
def test_the_time_guard_ends_a_step_that_overruns():
    start = time.perf_counter()
    status, seconds, _ = gpu_check.run_guarded([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=1.0)
    assert status == "timed out" and seconds < 10 and time.perf_counter() - start < 10
    assert gpu_check.run_guarded([sys.executable, "-c", "raise SystemExit(3)"], 30)[0] == "failed"


def test_steps_past_the_budget_are_skipped_not_started(tmp_path):
    results = gpu_check.run_all(tmp_path, budget_s=1.0)
    assert [(r.name, r.status) for r in results] == [(name, "skipped") for name in gpu_check.STEPS]
