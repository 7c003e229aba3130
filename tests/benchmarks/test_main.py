"""`python -m benchmarks --saved`: a section rewritten from the outcome a benchmark kept keeps
the line that says when and where it was measured, and measures nothing."""
import json
import sys

import pytest

import benchmarks.__main__ as bench
from benchmarks import learning_curves
from tuning.run import reports


@pytest.fixture
def sections(tmp_path, monkeypatch):
    """The section files in a scratch folder, the learning curves' kept outcome a synthetic one."""
    monkeypatch.setattr(bench, "SECTIONS", tmp_path)
    kept = tmp_path / "learning_curves.json"
    base = {reports.baseline_key(name, score): value for name, value in
            (("raw_pixels", 80.0), ("random_features", 82.0), ("untrained", 70.0)) for score in learning_curves.SCORES}
    point = {score: 85.0 for score in learning_curves.SCORES}
    curve = {"name": "default", "seed": 0, "overrides": {}, "trial_minutes": 5.0, "select": 86.0,
             "points": {"4": point}}
    kept.write_text(json.dumps({"baselines": base, "curves": [curve]}))
    monkeypatch.setattr(learning_curves, "RAW", kept)
    monkeypatch.setattr(bench, "HERE", tmp_path)  # RAW's path is told relative to the repository
    return tmp_path


def test_a_saved_section_keeps_its_measured_line_and_says_it_was_rewritten(sections, monkeypatch):
    monkeypatch.setattr(learning_curves, "run", lambda: pytest.fail("--saved must measure nothing"))
    measured = "_Measured 2026-01-02, x86_64, 2 cores; written by `.venv/bin/python -m benchmarks learning_curves`._"
    (sections / "learning_curves.md").write_text(f"## old\n\n{measured}\n\nold text\n")
    text = bench.section("learning_curves", saved=True)
    (sections / "learning_curves.md").write_text(text)
    again = bench.section("learning_curves", saved=True)  # a second rewrite does not stack its note
    line = again.splitlines()[2]
    assert line.startswith(measured[:-2] + "; rewritten from `")
    assert line.count("rewritten from") == 1 and line.endswith("--saved learning_curves`._")
    assert "test linear probe 85.00 (one seed), +5.00 over raw pixels, +3.00 over their random features" in again


def test_saved_refuses_a_benchmark_that_keeps_no_outcome(sections, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--saved", "loader"])
    with pytest.raises(SystemExit) as stopped:
        bench.main()
    assert stopped.value.code == 2
    assert "--saved: ['loader'] keep no outcome to write from; these do: search_replay" in capsys.readouterr().err
    assert list(sections.iterdir()) == [sections / "learning_curves.json"]  # nothing written
