"""Every choice of a campaign reads select, never test: the same seeded TPE + ASHA campaign run
twice, once with the test labels permuted, samples the same trials, stops the same ones at the
same rungs and exports the same best config; only the reported test numbers move.  Real Ray,
real .beton files, real MLflow; one trial at a time, so that the order TPE and ASHA see is the
same in both."""
import numpy as np
import pytest
import yaml

from pipelines.beton import ArraySource, write_beton
from pipelines.digits import digits_splits
from tuning.campaign.search.driver import CampaignOptions, run_campaign
from tuning.campaign.space import load_space
from tuning.config import load_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def twins(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("twins")
    (train_x, train_y), (test_x, test_y) = digits_splits(32)
    names = [str(d) for d in range(10)]
    train = write_beton(ArraySource(train_x, train_y), root / "train.beton", names)
    tests = {"true": write_beton(ArraySource(test_x, test_y), root / "test.beton", names),
             "permuted": write_beton(ArraySource(test_x, np.random.default_rng(0).permutation(test_y)),
                                     root / "test_permuted.beton", names)}
    results = {}
    for name, test in tests.items():
        space_file = root / f"{name}.yaml"
        space_file.write_text(yaml.safe_dump({
            "name": f"twin-{name}", "base": "digits-simclr", "num_samples": 4, "max_concurrent_trials": 1,
            "seed": 3, "sampler": "tpe", "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
            "metric": "online_select_top1",  # the stops this test was sized on (4 trials, one ASHA stop at least)
            "overrides": {"data.train": str(train), "data.test": str(test), "schedule.epochs": 2,
                          "probe.offline_epochs": 5, "data.batch_size": 128, "resources.workers": 1},
            "params": {"optim.base_lr": {"distribution": "float", "low": 0.02, "high": 5.0, "log": True},
                       "loss.params.temperature": {"distribution": "float", "low": 0.05, "high": 1.0, "log": True}},
        }))
        results[name] = run_campaign(load_space(str(space_file)), CampaignOptions(runs_dir=root / "runs"),
                                     name=f"twin-{name}")
    return results


def _decisions(result):
    """Each trial in the order it was sampled: its values, how far it trained, how it ended."""
    rows = sorted(result.rows, key=lambda r: r.sampled["optim.base_lr"])
    return [(round(r.params["optim.base_lr"], 12), round(r.params["loss.params.temperature"], 12), r.epoch,
             r.status, r.online_select_top1) for r in rows]


def test_permuted_test_labels_change_no_choice_of_the_campaign(twins):
    true, permuted = twins["true"], twins["permuted"]
    assert _decisions(true) == _decisions(permuted)
    assert "early_stopped" in {r.status for r in true.rows}  # ASHA did decide something
    best = true.best.linear_probe_select_top1
    assert best == permuted.best.linear_probe_select_top1  # the same winning select score

    def tied(result):  # the searched values of every completed trial at the best select score
        return sorted((round(r.params["optim.base_lr"], 12), round(r.params["loss.params.temperature"], 12))
                      for r in result.rows if r.status == "completed" and r.linear_probe_select_top1 == best)

    assert tied(true) == tied(permuted)
    for result in (true, permuted):  # export takes one of them (a tie goes to the smaller trial id, random per run)
        exported = load_config(result.exported)
        assert (round(exported.optim.base_lr, 12), round(exported.loss.params["temperature"], 12)) in tied(result)


def test_only_the_reported_test_numbers_move(twins):
    true, permuted = twins["true"].best, twins["permuted"].best
    assert permuted.linear_probe_test_top1 < 20.0 < true.linear_probe_test_top1  # 10 classes: chance is 10%
    assert twins["permuted"].baselines != twins["true"].baselines
