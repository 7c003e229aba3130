"""Reading campaigns back: which params a status table shows."""
from tuning.campaign.records.history import typed, varying_params


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


def test_list_valued_params_read_back_from_mlflow_are_compared_too():
    """A list param (``probe.center_crop_choices``) comes back from MLflow as a list, which a
    set cannot hold: the comparison must still tell equal lists from different ones."""
    logged = [{"probe.center_crop_choices": "[1.0]", "optim.base_lr": "0.3"},
              {"probe.center_crop_choices": "[1.0]", "optim.base_lr": "0.5"},
              {"probe.center_crop_choices": "[0.875, 1.0]", "optim.base_lr": "0.5"}]
    read_back = [{name: typed(value) for name, value in params.items()} for params in logged]
    assert read_back[0]["probe.center_crop_choices"] == [1.0]
    assert varying_params(read_back[:2]) == ["optim.base_lr"]
    assert varying_params(read_back) == ["optim.base_lr", "probe.center_crop_choices"]
