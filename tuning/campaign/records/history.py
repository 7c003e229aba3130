"""Reading campaigns back from the MLflow store, finished or running: the trials of a
campaign as ``dualtune status`` shows them."""
from __future__ import annotations

from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from tuning.campaign.records.tracking import CHECKPOINT_ANALYSES, Tags
from tuning.campaign.services.stores import Stores
from tuning.errors import StoreError
from tuning.run import reports


@dataclass(frozen=True)
class TrialSummary:
    """One trial's MLflow run: its logged params (strings, as MLflow keeps them) and final metrics."""
    trial_id: str
    status: str
    run_id: str
    params: dict[str, str]
    online_select_top1: float | None
    linear_probe_select_top1: float | None
    linear_probe_test_top1: float | None
    epoch: float | None
    duration_s: float


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


def campaign_baselines(stores: Stores, campaign: str) -> dict[str, float]:
    """The baselines (tuning.run.baselines) logged on the campaign's parent run; empty without one."""
    client = MlflowClient(stores.tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = [r for r in _tagged_runs(client, experiments, campaign) if Tags.TRIAL_ID not in r.data.tags]
    return {key: value for run in parents for key, value in run.data.metrics.items()
            if key.startswith(reports.BASELINE_PREFIX)}


def trial_summaries(stores: Stores, campaign: str) -> list[TrialSummary]:
    """The campaign's trials, sorted by trial id."""
    _, runs = campaign_runs(stores, campaign)
    summaries = []
    for run in runs:
        metrics = run.data.metrics
        end = run.info.end_time or run.info.start_time
        summaries.append(TrialSummary(
            trial_id=run.data.tags[Tags.TRIAL_ID], status=run.data.tags.get(Tags.TRIAL_STATUS, "?"),
            run_id=run.info.run_id, params=run.data.params, online_select_top1=metrics.get(reports.ONLINE_TOP1),
            linear_probe_select_top1=metrics.get(reports.LINEAR_PROBE_SELECT_TOP1),
            linear_probe_test_top1=metrics.get(reports.LINEAR_PROBE_TEST_TOP1), epoch=metrics.get(reports.EPOCH),
            duration_s=(end - run.info.start_time) / 1000))
    return sorted(summaries, key=lambda s: s.trial_id)


def varying_params(params_per_trial: list[dict[str, str]]) -> list[str]:
    """The config params whose values differ between a campaign's trials, sorted: what its
    search set, and what follows from that (``optim.effective_lr`` when lr or batch size
    vary); the settings of later checkpoint analyses (``eval.*``) are not the trials' own."""
    names = sorted({name for params in params_per_trial for name in params
                    if name.split(".")[0] not in CHECKPOINT_ANALYSES})
    return [name for name in names if len({params.get(name) for params in params_per_trial}) > 1]
