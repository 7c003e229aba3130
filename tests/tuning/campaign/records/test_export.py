"""Choosing the best trial and writing it as a config that reads back equal."""
import pytest

from tuning.campaign.records.best import best_row
from tuning.campaign.records.export import export_config
from tuning.campaign.records.results import TrialRow
from tuning.config import load_config, validate_config


def _row(trial_id, status, linear=None, online=None, test=None):
    return TrialRow(trial_id=trial_id, status=status, sampled={}, params={}, linear_probe_select_top1=linear,
                    online_select_top1=online, linear_probe_test_top1=test)


def test_the_best_is_chosen_on_select_whatever_test_says():
    rows = [_row("a", "completed", 60.0, 50.0, test=99.0), _row("b", "completed", 70.0, 40.0, test=10.0)]
    assert best_row(rows, "online_select_top1").trial_id == "b"


def test_best_is_the_completed_trial_with_the_highest_linear_probe():
    rows = [_row("a", "completed", 60.0, 90.0), _row("b", "completed", 70.0, 10.0),
            _row("c", "early_stopped", 99.0, 99.0), _row("d", "diverged", None, 99.0)]
    assert best_row(rows, "online_select_top1").trial_id == "b"


def test_without_a_linear_probe_the_fallback_metric_decides_among_completed_trials():
    rows = [_row("a", "completed", None, 40.0), _row("b", "completed", None, 45.0), _row("c", "early_stopped",
                                                                                         None, 99.0)]
    assert best_row(rows, "online_select_top1").trial_id == "b"
    assert best_row([_row("x", "early_stopped", None, 5.0), _row("y", "failed")], "online_select_top1").trial_id == "x"
    assert best_row([_row("y", "failed")], "online_select_top1") is None


def test_export_round_trips_the_config_with_its_provenance(tmp_path):
    cfg = validate_config({"loss": {"method": "vicreg", "params": {"cov_weight": 4.0}}, "optim": {"base_lr": 0.7},
                           "model": {"projector": "64-64-d", "embedding_dim": 32}})
    out = export_config(cfg, tmp_path / "sub" / "best.yaml", {"campaign": "c1", "trial_id": "t9"})
    again = load_config(out)
    assert again == cfg and again.digest() == cfg.digest()
    text = out.read_text()
    assert "# campaign: c1" in text and f"# config_hash: {cfg.digest()}" in text
    assert f"# rerun: dualtune pretrain --config {out.resolve()}\n" in text  # no store known: pretrain's default
    logged = export_config(cfg, tmp_path / "b.yaml", {"tracking_uri": "sqlite:////srv/runs/mlflow.db"}).read_text()
    rerun = f"# rerun: dualtune pretrain --config {tmp_path / 'b.yaml'} --tracking-uri sqlite:////srv/runs/mlflow.db"
    assert rerun in logged


@pytest.mark.parametrize("status", ["early_stopped", "failed", "diverged"])
def test_an_unfinished_trial_is_never_preferred_over_a_completed_one(status):
    assert best_row([_row("done", "completed", 1.0, 1.0), _row("other", status, 99.0, 99.0)],
                    "online_select_top1").trial_id == "done"


def test_a_tie_goes_to_the_smaller_trial_id_whatever_the_order():
    rows = [_row("b", "completed", 70.0), _row("a", "completed", 70.0), _row("c", "completed", 60.0)]
    assert best_row(rows, "online_select_top1").trial_id == best_row(rows[::-1], "online_select_top1").trial_id == "a"


def test_the_fallback_metric_follows_the_campaigns_mode():
    rows = [_row("a", "completed", None, 20.0), _row("b", "completed", None, 10.0)]
    assert best_row(rows, "online_select_top1", "max").trial_id == "a"
    assert best_row(rows, "online_select_top1", "min").trial_id == "b"
