"""A campaign's saved state: what its driver needs to start, resume or sync it, kept in the
campaign's folder so a new driver (``--resume``, ``dualtune sync``) can pick it up."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from tuning.campaign.paths import RunsFolder
from tuning.campaign.services.capacity import DEFAULT_CAPACITY_WAIT_S
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace
from tuning.errors import StoreError
from tuning.run.data import PreparedData


@dataclass(frozen=True)
class CampaignState:
    name: str
    space: SearchSpace
    runs: RunsFolder
    data: PreparedData
    experiment_id: str
    parent_run_id: str | None  # None: the trials are top-level runs (dualtune pretrain)
    storage: str  # Ray Tune/Train results and checkpoints: a path or URI every node can reach
    stores: Stores  # its MLflow tracking store and Optuna storage
    capacity_wait_s: float = DEFAULT_CAPACITY_WAIT_S  # how long a trial waits for room on the live nodes
    extensions: int = 0  # Tune experiments added by --extend, after the first
    baselines: dict[str, float] = dataclasses.field(default_factory=dict)  # raw pixels / untrained, on test

    @property
    def tune_name(self) -> str:
        """The name of the campaign's newest Tune experiment: the campaign's, ``-extN`` after --extend."""
        return f"{self.name}-ext{self.extensions}" if self.extensions else self.name

    @property
    def tune_results(self) -> str:
        """Tune's results folder of the campaign's newest Tune experiment (a path or URI)."""
        return f"{self.storage.rstrip('/')}/{self.tune_name}"

    @property
    def all_tune_results(self) -> list[str]:
        """Every Tune experiment's results folder, oldest first."""
        return [dataclasses.replace(self, extensions=i).tune_results for i in range(self.extensions + 1)]

    def save(self) -> None:
        self.runs.campaign_dir(self.name).mkdir(parents=True, exist_ok=True)
        self.runs.state_file(self.name).write_text(json.dumps(
            {"space": self.space.model_dump(mode="json"), "data": dataclasses.asdict(self.data),
             "experiment_id": self.experiment_id, "parent_run_id": self.parent_run_id, "storage": self.storage,
             "stores": self.stores.to_dict(), "capacity_wait_s": self.capacity_wait_s,
             "extensions": self.extensions, "baselines": self.baselines}))

    @classmethod
    def load(cls, runs: RunsFolder, name: str) -> CampaignState:
        state_file = runs.state_file(name)
        if not state_file.is_file():
            raise StoreError(f"no campaign {name!r} in {runs.root}; known: {', '.join(runs.campaigns()) or 'none'}")
        state = json.loads(state_file.read_text())
        return cls(name=name, space=SearchSpace.model_validate(state["space"]), runs=runs,
                   data=PreparedData(**state["data"]), experiment_id=state["experiment_id"],
                   parent_run_id=state["parent_run_id"], storage=state["storage"],
                   stores=Stores.from_dict(state.get("stores"), runs),
                   capacity_wait_s=state.get("capacity_wait_s", DEFAULT_CAPACITY_WAIT_S),
                   extensions=state.get("extensions", 0), baselines=state.get("baselines", {}))


def command_stores(runs: RunsFolder, tracking_uri: str | None, optuna_storage: str | None,
                   campaign: str | None = None, checkpoint: Path | None = None) -> Stores:
    """The stores a command uses: those it was given (flag or environment variable), else
    those recorded by ``campaign`` (or by the campaign whose storage holds ``checkpoint``)
    when its state is in ``runs``, else the SQLite files under ``runs``."""
    recorded = None
    if campaign and runs.state_file(campaign).is_file():
        recorded = CampaignState.load(runs, campaign).stores
    elif checkpoint is not None:
        recorded = next((state.stores for state in _states(runs)
                         if Path(checkpoint).resolve().is_relative_to(state.storage)), None)
    return Stores.choose(runs, tracking_uri, optuna_storage, recorded)


def _states(runs: RunsFolder) -> list[CampaignState]:
    return [CampaignState.load(runs, name) for name in runs.campaigns()]
