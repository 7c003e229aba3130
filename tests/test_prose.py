"""Prose that stays true: no measured figure is copied into a search space or a docstring (a
speed-up like ``2.04x``, an interval like ``(1.14 to 3.46)``, a gain in points, a measured range).
Such text names the benchmarks/RESULTS.md section that holds the figure, which ``make bench``
keeps current; a copy goes stale at the next run."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PRODUCT = ("models", "pipelines", "tuning", "search_spaces")
FIGURE = re.compile(r"\b\d+(?:\.\d+)?x\b|-?\d+\.\d+ to -?\d+\.\d+\)|\b\d+(?:\.\d+)? points\b|\b\d+\.\d+-\d+\.\d+\b")


def _docstrings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                    ast.ClassDef)))]
    return [doc for doc in map(ast.get_docstring, nodes) if doc]


def _field_descriptions(path: Path) -> list[str]:
    return re.findall(r'description="([^"]*)"', path.read_text())


def figures_in(text: str) -> list[str]:
    return FIGURE.findall(text)


@pytest.mark.parametrize("text, found", [("reached it 2.04x sooner", ["2.04x"]), ("(95% interval 1.14 to 3.46)",
                                          ["1.14 to 3.46)"]), ("about 1.8 points", ["1.8 points"]),
                                         ("ended at 81.5-85.8", ["81.5-85.8"]), ("a quarter (2 to 10)", []),
                                         ("8192-8192-d, 0.875 crop, 3x3 conv", [])])
def test_the_pattern_finds_measured_figures(text, found):
    assert figures_in(text) == found


def test_no_search_space_copies_a_measured_figure():
    copied = {str(p.relative_to(ROOT)): figures_in(p.read_text()) for p in (ROOT / "search_spaces").rglob("*.yaml")}
    assert {path: found for path, found in copied.items() if found} == {}


def test_no_docstring_or_field_description_copies_a_measured_figure():
    copied = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            found = [f for text in _docstrings(path) + _field_descriptions(path) for f in figures_in(text)]
            if found:
                copied[str(path.relative_to(ROOT))] = found
    assert copied == {}
