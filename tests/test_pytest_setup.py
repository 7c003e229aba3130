"""The test session's own setup (pyproject's pytest options)."""
import ast
import gc
import sys


class _RaisesWhenCollected:
    """Garbage whose finalizer raises, like an FFCV loader or a numba dispatcher at teardown."""

    def __init__(self):
        self.cycle = self

    def __del__(self):
        raise KeyError("finalizer")


def test_a_finalizer_raising_during_a_parse_does_not_break_the_parse():
    """Python 3.11's traceback formatting parses source; a hook that formats inside a garbage
    collection re-enters ast.parse and fails the outer one. The session keeps the interpreter's
    own hook, which parses nothing, so a parse that collects raising garbage still succeeds."""
    assert sys.unraisablehook is sys.__unraisablehook__
    source = "\n".join(f"def f{i}(a, b):\n    return [a + b * {i} for _ in range(3)]" for i in range(2000))
    threshold = gc.get_threshold()
    gc.set_threshold(50)
    try:
        for _ in range(5):
            for _ in range(50):
                _RaisesWhenCollected()
            tree = ast.parse(source)
            assert len(tree.body) == 2000
    finally:
        gc.set_threshold(*threshold)
