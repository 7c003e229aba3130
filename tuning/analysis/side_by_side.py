"""Analysing checkpoints side by side: each one's analysis, their CKA matrix and the figures
drawn from them (what ``dualtune analyze`` and a study's report show)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tuning.analysis.checkpoint import Analysis, analyze, checkpoint_outputs, cka_matrix, sample_size
from tuning.analysis.plots import render
from tuning.errors import ConfigError
from tuning.run import checkpoints


@dataclass(frozen=True)
class AnalysisReport:
    """The analyses of one or more checkpoints, their CKA matrix (two or more) and the files drawn."""
    analyses: list[Analysis]
    cka: torch.Tensor | None
    files: list[Path]

    def metrics_of(self, index: int) -> dict[str, float]:
        """Checkpoint ``index``'s numbers, with its CKA against each other checkpoint."""
        others = {f"cka_{metric_name(a.name)}": float(self.cka[index, j])
                  for j, a in enumerate(self.analyses) if j != index} if self.cka is not None else {}
        return {**self.analyses[index].metrics, **others}


def metric_name(label: str) -> str:
    """A label as MLflow accepts it in a metric name."""
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in label)


def analyze_checkpoints(checkpoint_dirs: list[Path], names: list[str], data_dir: Path, images: int,
                        out_dir: Path) -> AnalysisReport:
    """Analyse each checkpoint on the same test images and the same train images it fitted on
    (``images`` of each, or more where a network is wider), CKA between them (test), figures in
    ``out_dir``."""
    if len(names) != len(checkpoint_dirs):
        raise ConfigError(f"give one --name per --checkpoint ({len(checkpoint_dirs)}), got {len(names)}")
    vals = {checkpoints.load_checkpoint_config(d).data.test for d in checkpoint_dirs}  # each is a checkpoint
    if len(vals) > 1:
        raise ConfigError(f"the checkpoints were validated on different data ({', '.join(sorted(vals))}); "
                          "CKA compares representations of the same images")
    images = sample_size([checkpoints.load_checkpoint_config(d) for d in checkpoint_dirs], images)
    outputs = [checkpoint_outputs(Path(d), data_dir, images) for d in checkpoint_dirs]
    fit_outputs = [checkpoint_outputs(Path(d), data_dir, images, sample="fit") for d in checkpoint_dirs]
    analyses = [analyze(name, out, fit) for name, out, fit in zip(names, outputs, fit_outputs)]
    cka = cka_matrix(outputs) if len(outputs) > 1 else None
    return AnalysisReport(analyses, cka, render(analyses, cka, out_dir))
