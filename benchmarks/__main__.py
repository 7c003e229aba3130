"""`make bench`: run the benchmarks and rewrite benchmarks/RESULTS.md with their tables."""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from pathlib import Path

import ray
import torch

from benchmarks import loader

RESULTS = Path(__file__).with_name("RESULTS.md")


def header() -> list[str]:
    return ["# Benchmark results", "",
            f"Written by `make bench` on {datetime.date.today()}: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}, ffcv {importlib.metadata.version('ffcv')}, "
            f"ray {ray.__version__}. Each ratio compares two pipelines measured in the same process on the "
            "same data; absolute numbers are for reference only (shared, noisy machines).", ""]


def main() -> None:
    rows = loader.run()
    text = header() + ["## Loader: FFCV two-view vs torchvision ImageFolder DataLoader", "",
                       "Digits train split (1,437 images) as 128 px JPEGs; two random-resized crops + flips per "
                       "image in the loader, 2 workers, batch 256; '+ augs' adds the Table S1 photometric "
                       "augmentations (on the CPU here, on the GPU in real runs).", "",
                       *loader.format_rows(rows), ""]
    RESULTS.write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
