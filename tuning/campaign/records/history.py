"""Reading campaigns back from the MLflow store, finished or running: the trials of a
campaign as ``dualtune status`` shows them."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from tuning.campaign.records.best import RANK_METRIC, Scored, best_of
from tuning.campaign.records.tracking import CHECKPOINT_ANALYSES, Tags
from tuning.campaign.services.stores import Stores
from tuning.campaign.statuses import TrialStatus
from tuning.campaign.tune_results import TIME_TOTAL_S, epochs_trained
from tuning.errors import StoreError
from tuning.run import reports

EPOCH_CLOCK = "epoch_time_s"
"""A metric every epoch logs (at step = epoch): its history counts the epochs a trial trained."""


@dataclass(frozen=True)
class TrialSummary:
    """One trial's MLflow run: its params (typed again from MLflow's strings), its latest metrics,
    the epochs it trained and its running time (Tune's ``time_total_s``, as the campaign's
    summary shows it; the run's wall time for runs logged before that was kept)."""
    trial_id: str
    status: str
    run_id: str
    params: dict[str, Any]
    metrics: dict[str, float]
    epochs: int
    duration_s: float

    def metric(self, name: str) -> float | None:
        return self.metrics.get(name)


@dataclass(frozen=True)
class CampaignOverview:
    """What ``dualtune status`` shows of a campaign: its trials, the rung metric its search ran on
    (None for a campaign logged before it was kept), its baselines, and its best trial by export's
    rule (the completed one with the best ``linear_probe_select_top1``)."""
    campaign: str
    trials: list[TrialSummary]
    rung_metric: str | None = None
    baselines: dict[str, float] = field(default_factory=dict)
    rung_mode: str = "max"
    at_bound: list[str] = field(default_factory=list)  # the best trial at a searched bound (bounds.py)

    def driver_gone(self) -> CampaignOverview:
        """The campaign as it stands when its driver is gone (killed, its node lost): the trials
        its runs still call running are stopped, waiting for ``--resume``."""
        trials = [dataclasses.replace(t, status=TrialStatus.STOPPED) if t.status == TrialStatus.RUNNING else t
                  for t in self.trials]
        return dataclasses.replace(self, trials=trials)

    @property
    def resumable(self) -> bool:
        """Whether ``--resume`` has trials to continue (stopped ones; no_capacity ones wait for
        ``--retry-errored``, which the campaign's summary prints)."""
        return any(t.status == TrialStatus.STOPPED for t in self.trials)

    @property
    def best(self) -> str | None:
        metric = self.rung_metric or RANK_METRIC
        return best_of((Scored(t.trial_id, t.status, t.metric(RANK_METRIC), t.metric(metric)) for t in self.trials),
                       self.rung_mode)


def campaign_runs(stores: Stores, campaign: str) -> tuple[MlflowClient, list]:
    """The MLflow client and the trial runs of ``campaign`` (any experiment); a clear error
    lists the known campaigns when there is none of that name."""
    local = stores.tracking_file()
    if local is not None and not local.is_file():
        raise StoreError(f"no MLflow store at {local}; run a campaign first (dualtune tune)")
    stores.check_reachable()
    client = MlflowClient(stores.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    trials = [r for r in _tagged_runs(client, experiments, campaign) if Tags.TRIAL_ID in r.data.tags]
    if not trials:
        known = sorted({r.data.tags[Tags.CAMPAIGN] for r in client.search_runs(experiments)
                        if Tags.CAMPAIGN in r.data.tags})
        raise StoreError(f"no campaign {campaign!r} in {stores.tracking_uri}; known: {', '.join(known) or 'none'}")
    return client, trials


def _tagged_runs(client: MlflowClient, experiments: list[str], campaign: str) -> list:
    return client.search_runs(experiments, f"tags.`{Tags.CAMPAIGN}` = '{campaign}'")


def typed(value: str) -> Any:
    """An MLflow param (a string) as the value it was: 32 -> 32, 0.5 -> 0.5, 512-512-d stays."""
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def campaign_overview(stores: Stores, campaign: str) -> CampaignOverview:
    """The campaign's trials (sorted by trial id), its rung metric and its baselines, from its
    MLflow runs (a clear error lists the known campaigns when there is none of that name)."""
    client, runs = campaign_runs(stores, campaign)
    experiments = sorted({run.info.experiment_id for run in runs})
    parents = [r for r in _tagged_runs(client, experiments, campaign) if Tags.TRIAL_ID not in r.data.tags]
    baselines = {key: value for run in parents for key, value in run.data.metrics.items()
                 if key.startswith(reports.BASELINE_PREFIX)}
    rung_metric = next((run.data.params["metric"] for run in parents if "metric" in run.data.params), None)
    rung_mode = next((run.data.params["mode"] for run in parents if "mode" in run.data.params), "max")
    trials = []
    for run in runs:
        metrics = run.data.metrics
        end = run.info.end_time or run.info.start_time
        steps = {point.step for point in client.get_metric_history(run.info.run_id, EPOCH_CLOCK)}
        trials.append(TrialSummary(
            trial_id=run.data.tags[Tags.TRIAL_ID], status=run.data.tags.get(Tags.TRIAL_STATUS, "?"),
            run_id=run.info.run_id, params={name: typed(value) for name, value in run.data.params.items()},
            metrics=dict(metrics), epochs=epochs_trained(steps),
            duration_s=metrics.get(TIME_TOTAL_S, (end - run.info.start_time) / 1000)))
    at_bound = [line for run in parents for line in run.data.tags.get(Tags.AT_BOUND, "").splitlines()]
    return CampaignOverview(campaign, sorted(trials, key=lambda s: s.trial_id), rung_metric, baselines, rung_mode,
                            at_bound)


def varying_params(params_per_trial: list[dict[str, Any]]) -> list[str]:
    """The config params whose values differ between a campaign's trials, sorted: what its
    search set, and what follows from that (``optim.effective_lr`` when lr or batch size
    vary); the settings of later checkpoint analyses (``eval.*``) are not the trials' own. Values
    are compared by their repr, so list-valued params (read back by ``typed``) count too."""
    names = sorted({name for params in params_per_trial for name in params
                    if name.split(".")[0] not in CHECKPOINT_ANALYSES})
    return [name for name in names if len({repr(params.get(name)) for params in params_per_trial}) > 1]
