"""The paper's Table S4 as a tool: both criteria, the four-norm sums and the Lemma 3.4 bounds
for a trained checkpoint's embeddings on one batch of validation images."""
from __future__ import annotations

from pathlib import Path

from models.duality import duality_report
from tuning.analysis.checkpoint import checkpoint_outputs


def run_duality_check(checkpoint_dir: Path, data_dir: Path, batch_size: int = 256) -> dict[str, float]:
    """Table S4's quantities for one checkpoint (see models.duality.duality_report)."""
    return duality_report(checkpoint_outputs(checkpoint_dir, data_dir, batch_size).embeddings)
