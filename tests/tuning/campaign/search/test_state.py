"""A campaign's saved state and the runs folder's layout."""
import pytest

from tuning.campaign.paths import RunsFolder, timestamped
from tuning.campaign.search.state import CampaignState
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import load_space
from tuning.errors import StoreError
from tuning.run.data import PreparedData


def test_the_state_reads_back_equal_and_an_unknown_campaign_names_the_known_ones(tmp_path):
    runs = RunsFolder(tmp_path / "runs")
    state = CampaignState(name="c1", space=load_space("table_s5_cpu"), runs=runs,
                          data=PreparedData(train="/d/train.beton", test="/d/test.beton", num_classes=10,
                                            select_per_class=20, select_seed=0),
                          experiment_id="3", parent_run_id=None, storage="s3://bucket/ray/",
                          stores=Stores("http://mlflow.team:5000", "postgresql://dualtune@db.team/optuna", None))
    state.save()
    again = CampaignState.load(runs, "c1")
    assert again == state
    assert again.tune_results == "s3://bucket/ray/c1"
    assert again.space.trial_config({"loss.method": "vicreg"}) == state.space.trial_config({"loss.method": "vicreg"})
    with pytest.raises(StoreError, match="no campaign 'c2'.*known: c1"):
        CampaignState.load(runs, "c2")


def test_the_runs_folder_is_absolute_and_names_every_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = RunsFolder("runs")
    assert runs.root == tmp_path / "runs"
    assert (runs.mlflow_db.name, runs.optuna_db.name, runs.data_dir.name, runs.ray_storage.name) == (
        "mlflow.db", "optuna.db", "data", "ray")
    assert runs.best_config("c").parent == runs.state_file("c").parent == runs.root / "c"
    assert runs.campaigns() == []
    name = timestamped("smoke")
    assert name.startswith("smoke-20") and len(name) == len("smoke-YYYYmmdd-HHMMSS")
