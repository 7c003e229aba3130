"""Writing configs as YAML files that rerun with one command (the best trial, or the top K)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from tuning.campaign.records.best import RANK_METRIC, ranking
from tuning.campaign.records.history import campaign_runs
from tuning.campaign.records.tracking import Tags
from tuning.campaign.services.stores import Stores
from tuning.campaign.statuses import TrialStatus
from tuning.config import PretrainConfig, dump_config, validate_config
from tuning.errors import StoreError


def rerun_command(config: Path, tracking_uri: str | None) -> str:
    """The command that reruns an exported config, runnable as printed from any folder: the file
    in full, logged to the campaign's MLflow store (when known)."""
    store = f" --tracking-uri {tracking_uri}" if tracking_uri else ""
    return f"dualtune pretrain --config {Path(config).resolve()}{store}"


def export_config(cfg: PretrainConfig, out: Path, provenance: dict[str, str]) -> Path:
    """Write ``cfg`` to ``out`` with its provenance (campaign, trial, MLflow run, config hash)
    as a comment header; ``dualtune pretrain --config out`` reruns it."""
    lines = [f"{k}: {v}" for k, v in provenance.items()]
    lines += [f"config_hash: {cfg.digest()}", f"rerun: {rerun_command(out, provenance.get('tracking_uri'))}"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump_config(cfg, header="\n".join(lines)))
    return out


def export_top(stores: Stores, campaign: str, top: int, out_dir: Path) -> list[Path]:
    """Write the ``top`` completed trials by linear-probe top-1 as runnable YAML files, each
    recording its MLflow run id, the tracking store and the config hash (also tagged on the run)."""
    client, runs = campaign_runs(stores, campaign)
    completed = [r for r in runs if r.data.tags.get(Tags.TRIAL_STATUS) == TrialStatus.COMPLETED]
    ranked = sorted((r for r in completed if RANK_METRIC in r.data.metrics),
                    key=lambda r: ranking(r.data.metrics[RANK_METRIC], r.data.tags[Tags.TRIAL_ID]))[:top]
    if not ranked:
        raise StoreError(f"campaign {campaign!r} has no completed trial with {RANK_METRIC}")
    written = []
    for rank, run in enumerate(ranked, start=1):
        cfg = validate_config(yaml.safe_load(_download_text(client, run.info.run_id, "config.yaml")),
                              source=f"run {run.info.run_id} config.yaml")
        out = Path(out_dir) / f"{campaign}-top{rank}-{run.data.tags[Tags.TRIAL_ID]}.yaml"
        export_config(cfg, out, {"campaign": campaign, "trial_id": run.data.tags[Tags.TRIAL_ID],
                                 "mlflow_run_id": run.info.run_id, "tracking_uri": stores.tracking_uri,
                                 RANK_METRIC: f"{run.data.metrics[RANK_METRIC]:.2f}"})
        client.set_tag(run.info.run_id, Tags.EXPORTED_TO, str(out))
        written.append(out)
    return written


def _download_text(client, run_id: str, artifact: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(client.download_artifacts(run_id, artifact, tmp)).read_text()
        except Exception as error:  # MLflow raises its own exception types for missing artifacts
            raise StoreError(f"run {run_id} has no readable {artifact} artifact: {error}") from None
