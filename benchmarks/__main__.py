"""`make bench`: run the benchmarks and rewrite benchmarks/RESULTS.md.

``python -m benchmarks [NAME ...]`` runs the named benchmarks (default: all).  Each writes
its section to benchmarks/results/NAME.md (its docstring as the method, then its table);
RESULTS.md is assembled from every section file, so one benchmark can be rerun alone.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import os
import platform
from pathlib import Path

HERE = Path(__file__).parent
RESULTS, SECTIONS = HERE / "RESULTS.md", HERE / "results"
BENCHMARKS = ("loader", "writer", "loader_defaults", "train_step", "precision", "scaling", "overhead",
              "table_rung_metrics", "search_replay", "search_efficiency", "metric_signal", "learning_curves")


def machine() -> str:
    import torch

    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("torch", "ffcv", "ray", "optuna", "mlflow"))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, {gpu}, "
            f"Python {platform.python_version()}, {versions}")


def section(name: str) -> str:
    """Run one benchmark; its section as markdown."""
    module = importlib.import_module(f"benchmarks.{name}")
    method = " ".join(module.__doc__.split())
    return "\n".join([f"## {module.TITLE}", "", f"_Measured {machine()}; written by "
                      f"`.venv/bin/python -m benchmarks {name}`._", "", method, "", *module.report(module.run()), ""])


def assemble() -> str:
    parts = ["# Benchmark results", "",
             "Written by `make bench` (`python -m benchmarks [NAME ...]`). Every figure is a ratio to a baseline "
             "measured in the same process on the same data, with absolute numbers for reference only: these are "
             "shared, noisy 2-core machines.", ""]
    parts += [(SECTIONS / f"{name}.md").read_text() for name in BENCHMARKS if (SECTIONS / f"{name}.md").is_file()]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(BENCHMARKS)}")
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    SECTIONS.mkdir(exist_ok=True)
    for name in names:
        text = section(name)
        (SECTIONS / f"{name}.md").write_text(text)
        print(text, flush=True)
    RESULTS.write_text(assemble())


if __name__ == "__main__":
    main()
