"""Choosing the best trial and writing its config as a YAML file that reruns with one command."""
from __future__ import annotations

from pathlib import Path

from tuning.config import PretrainConfig, dump_config

RANK_METRIC = "linear_probe_top1"


def best_row(rows: list[dict], fallback_metric: str) -> dict | None:
    """The completed trial with the highest linear-probe top-1 (else the best ``fallback_metric``)."""
    completed = [r for r in rows if r["status"] == "completed"]
    scored = [r for r in completed if r.get(RANK_METRIC) is not None]
    if scored:
        return max(scored, key=lambda r: r[RANK_METRIC])
    candidates = [r for r in (completed or rows) if r.get(fallback_metric) is not None]
    return max(candidates, key=lambda r: r[fallback_metric]) if candidates else None


def export_config(cfg: PretrainConfig, out: Path, provenance: dict[str, str]) -> Path:
    """Write ``cfg`` to ``out`` with its provenance (campaign, trial, MLflow run, config hash)
    as a comment header; ``dualtune pretrain --config out`` reruns it."""
    lines = [f"{k}: {v}" for k, v in provenance.items()]
    lines += [f"config_hash: {cfg.digest()}", f"rerun: dualtune pretrain --config {out}"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump_config(cfg, header="\n".join(lines)))
    return out
