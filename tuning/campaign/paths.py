"""The runs folder's layout: where a campaign's stores, data cache, Ray results and files
live.  Every file name under ``--runs-dir`` is written here and nowhere else."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
STATE_FILE = "campaign.json"


def timestamped(prefix: str) -> str:
    """A default campaign name: ``PREFIX-YYYYmmdd-HHMMSS``."""
    return f"{prefix}-{time.strftime(TIMESTAMP_FORMAT)}"


@dataclass(frozen=True)
class RunsFolder:
    """``--runs-dir``: mlflow.db, optuna.db and mlartifacts/ (unless the stores are shared
    services, see tuning.campaign.services.stores), data/ (the bundled .beton cache), ray/ (Ray's
    results unless --storage says otherwise), and one folder per campaign holding its
    saved state and its exported best config."""
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).resolve())

    mlflow_db = property(lambda self: self.root / "mlflow.db")
    optuna_db = property(lambda self: self.root / "optuna.db")
    mlflow_artifacts = property(lambda self: self.root / "mlartifacts")
    data_dir = property(lambda self: self.root / "data")
    ray_storage = property(lambda self: self.root / "ray")

    def campaign_dir(self, campaign: str) -> Path:
        return self.root / campaign

    def state_file(self, campaign: str) -> Path:
        return self.campaign_dir(campaign) / STATE_FILE

    def driver_log(self, campaign: str) -> Path:
        """Ray's, FFCV's, Optuna's and MLflow's own output while the campaign's driver ran."""
        return self.campaign_dir(campaign) / "driver.log"

    def control_file(self, campaign: str) -> Path:
        return self.campaign_dir(campaign) / "control.json"

    def best_config(self, campaign: str) -> Path:
        return self.campaign_dir(campaign) / "best_config.yaml"

    def campaigns(self) -> list[str]:
        """Names of the campaigns with a saved state here."""
        return sorted(p.parent.name for p in self.root.glob(f"*/{STATE_FILE}"))
