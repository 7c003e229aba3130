"""Reading finished or running campaigns back from the MLflow store: status tables and exports."""
from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from tuning.config import validate_config
from tuning.export import RANK_METRIC, export_config
from tuning.mlflow_logging import CAMPAIGN_TAG, STATUS_TAG, TRIAL_ID_TAG, tracking_uri


def campaign_runs(runs_dir: Path, campaign: str) -> tuple[MlflowClient, list]:
    """The MLflow client and the trial runs of ``campaign`` (any experiment); a clear error
    lists the known campaigns when there is none of that name."""
    db = Path(runs_dir) / "mlflow.db"
    if not db.is_file():
        raise ValueError(f"no MLflow store at {db}; run a campaign first (dualtune tune)")
    client = MlflowClient(tracking_uri(db))
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.`{CAMPAIGN_TAG}` = '{campaign}'")
    trials = [r for r in runs if TRIAL_ID_TAG in r.data.tags]
    if not trials:
        known = sorted({r.data.tags[CAMPAIGN_TAG] for r in client.search_runs(experiments)
                        if CAMPAIGN_TAG in r.data.tags})
        raise ValueError(f"no campaign {campaign!r} in {db}; known: {', '.join(known) or 'none'}")
    return client, trials


def trial_summaries(runs_dir: Path, campaign: str) -> list[dict]:
    """One dict per trial: id, status, searched params, final metrics, duration, run id."""
    _, runs = campaign_runs(runs_dir, campaign)
    rows = []
    for run in runs:
        metrics = run.data.metrics
        end = run.info.end_time or run.info.start_time
        rows.append({"trial_id": run.data.tags[TRIAL_ID_TAG], "status": run.data.tags.get(STATUS_TAG, "?"),
                     "run_id": run.info.run_id, "params": run.data.params,
                     "online_top1": metrics.get("online_top1"), "linear_probe_top1": metrics.get(RANK_METRIC),
                     "epoch": metrics.get("epoch"), "duration_s": (end - run.info.start_time) / 1000})
    return sorted(rows, key=lambda r: r["trial_id"])


def varying_params(rows: list[dict]) -> list[str]:
    """The params whose values differ between a campaign's trials, sorted: what its search
    set, and what follows from that (``optim.effective_lr`` when lr or batch size vary)."""
    names = sorted({name for row in rows for name in row["params"]})
    return [name for name in names if len({row["params"].get(name) for row in rows}) > 1]


def export_top(runs_dir: Path, campaign: str, top: int, out_dir: Path) -> list[Path]:
    """Write the ``top`` completed trials by linear-probe top-1 as runnable YAML files, each
    recording its MLflow run id and config hash (also tagged on the run)."""
    client, runs = campaign_runs(runs_dir, campaign)
    ranked = sorted((r for r in runs if r.data.tags.get(STATUS_TAG) == "completed" and RANK_METRIC in r.data.metrics),
                    key=lambda r: r.data.metrics[RANK_METRIC], reverse=True)[:top]
    if not ranked:
        raise ValueError(f"campaign {campaign!r} has no completed trial with {RANK_METRIC}")
    written = []
    for rank, run in enumerate(ranked, start=1):
        cfg = validate_config(yaml.safe_load(_download_text(client, run.info.run_id, "config.yaml")),
                              source=f"run {run.info.run_id} config.yaml")
        out = Path(out_dir) / f"{campaign}-top{rank}-{run.data.tags[TRIAL_ID_TAG]}.yaml"
        export_config(cfg, out, {"campaign": campaign, "trial_id": run.data.tags[TRIAL_ID_TAG],
                                 "mlflow_run_id": run.info.run_id,
                                 RANK_METRIC: f"{run.data.metrics[RANK_METRIC]:.2f}"})
        client.set_tag(run.info.run_id, "dualtune.exported_to", str(out))
        written.append(out)
    return written


def _download_text(client: MlflowClient, run_id: str, artifact: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(client.download_artifacts(run_id, artifact, tmp)).read_text()
        except Exception as error:  # MLflow raises its own exception types for missing artifacts
            raise ValueError(f"run {run_id} has no readable {artifact} artifact: {error}") from None
