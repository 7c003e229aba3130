"""`make bench`: run the benchmarks and rewrite benchmarks/RESULTS.md.

``python -m benchmarks [NAME ...]`` runs the named benchmarks (default: all).  Each writes
its section to benchmarks/results/NAME.md (its docstring as the method, then its table);
RESULTS.md is assembled from every section file, so one benchmark can be rerun alone.
``--saved`` rewrites the sections of benchmarks that keep their outcome (``RAW``) from it, measuring
nothing: for a change to a report's wording.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
from pathlib import Path

HERE = Path(__file__).parent
RESULTS, SECTIONS = HERE / "RESULTS.md", HERE / "results"
BENCHMARKS = ("loader", "writer", "loader_defaults", "train_step", "precision", "scaling", "overhead",
              "table_rung_metrics", "grid_edge",
              "search_replay", "search_efficiency", "metric_signal", "learning_curves")
KEEPING = ("search_replay", "search_efficiency", "learning_curves")  # those that keep their outcome (RAW)


def machine() -> str:
    import torch

    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("torch", "ffcv", "ray", "optuna", "mlflow"))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, {gpu}, "
            f"Python {platform.python_version()}, {versions}")


def section(name: str, saved: bool = False) -> str:
    """Run one benchmark, or (``saved``) read the outcome it kept; its section as markdown."""
    module = importlib.import_module(f"benchmarks.{name}")
    method = " ".join(module.__doc__.split())
    if saved:
        origin = f"{measured_line(name)}; rewritten from `{module.RAW.relative_to(HERE.parent)}` on " \
                 f"{datetime.date.today()} by `.venv/bin/python -m benchmarks --saved {name}`._"
        outcome = json.loads(module.RAW.read_text())
    else:
        origin = f"_Measured {machine()}; written by `.venv/bin/python -m benchmarks {name}`._"
        outcome = module.run()
    return "\n".join([f"## {module.TITLE}", "", origin, "", method, "", *module.report(outcome), ""])


def measured_line(name: str) -> str:
    """The 'Measured ...' line of ``name``'s section as its last measurement wrote it, without
    its closing underscore or any earlier rewrite's note."""
    path = SECTIONS / f"{name}.md"
    lines = path.read_text().splitlines() if path.is_file() else []
    line = next((line for line in lines if line.startswith("_Measured")), "_Measured: not on record_")
    return line.split("; rewritten from")[0].removesuffix("_").removesuffix(".")


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
    parser.add_argument("--saved", action="store_true", help="write the sections from the outcomes the named "
                        f"benchmarks kept, measuring nothing (any of: {', '.join(KEEPING)})")
    arguments = parser.parse_args()
    names = arguments.names or list(KEEPING if arguments.saved else BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    unkept = sorted(set(names) - set(KEEPING)) if arguments.saved else []
    if unkept:
        parser.error(f"--saved: {unkept} keep no outcome to write from; these do: {', '.join(KEEPING)}")
    SECTIONS.mkdir(exist_ok=True)
    for name in names:
        text = section(name, arguments.saved)
        (SECTIONS / f"{name}.md").write_text(text)
        print(text, flush=True)
    RESULTS.write_text(assemble())


if __name__ == "__main__":
    main()
