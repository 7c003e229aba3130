"""Reading campaigns back: which params a status table shows."""
from tuning.campaign.records.history import varying_params


def test_status_shows_the_params_that_differ_between_trials():
    rows = [{"loss.params.cov_weight": "1.0", "data.batch_size": "256", "optim.effective_lr": "0.3", "seed": "0"},
            {"loss.params.cov_weight": "4.0", "data.batch_size": "512", "optim.effective_lr": "0.6", "seed": "0"},
            {"loss.params.cov_weight": "4.0", "data.batch_size": "256", "optim.effective_lr": "0.3", "seed": "0",
             "model.embedding_dim": "512"}]
    assert varying_params(rows) == ["data.batch_size", "loss.params.cov_weight", "model.embedding_dim",
                                    "optim.effective_lr"]
    assert varying_params(rows[:1]) == []  # a single run searched nothing


def test_status_leaves_out_what_later_analyses_logged_on_a_checkpoint():
    rows = [{"optim.base_lr": "0.3", "eval.probe.offline_epochs": "3", "duality.batch": "64"},
            {"optim.base_lr": "0.5"}]
    assert varying_params(rows) == ["optim.base_lr"]
