"""The best trial at the edge of its searched range is named, on the range's own scale; one
inside it is not.  A real campaign says so in its summary, its parent run and ``status``."""
import json
import subprocess
import sys

import pytest

from tests.spaces import write_tiny_space
from tuning.campaign.records.bounds import at_bounds
from tuning.campaign.space import SearchSpace

PARAMS = {"optim.base_lr": {"distribution": "float", "low": 0.05, "high": 5.0, "log": True},
          "loss.params.temperature": {"distribution": "float", "low": 0.1, "high": 0.5},
          "model.embedding_dim": {"distribution": "ordinal", "values": [32, 128, 512]},
          "data.batch_size": {"distribution": "categorical", "choices": [128, 256]}}


def _space() -> SearchSpace:
    return SearchSpace(name="s", base="digits-simclr", params=PARAMS)


def test_values_inside_every_range_are_not_named():
    sampled = {"optim.base_lr": 0.5, "loss.params.temperature": 0.3, "model.embedding_dim": 128,
               "data.batch_size": 256}
    assert at_bounds(_space(), sampled) == []


def test_a_value_at_a_bound_is_named_on_the_ranges_scale():
    # base lr 4.5 is 98% of the way up the log range (at the edge); temperature 0.11 is 2.5% up the linear one
    notes = at_bounds(_space(), {"optim.base_lr": 4.5, "loss.params.temperature": 0.11, "model.embedding_dim": 512,
                                 "data.batch_size": 128})
    assert [(n.param, n.side) for n in notes] == [("optim.base_lr", "upper"), ("loss.params.temperature", "lower"),
                                                  ("model.embedding_dim", "upper")]
    assert "optim.base_lr=4.5 is at the upper bound of its searched range (5)" in str(notes[0])
    # 0.6 is 54% of the way up the log range, though 11% of its linear width: not at a bound
    assert at_bounds(_space(), {"optim.base_lr": 0.6}) == []


def _campaign(tmp_path, name: str, lr: float) -> tuple[subprocess.CompletedProcess, dict]:
    space = write_tiny_space(tmp_path / f"{name}.yaml", name, num_samples=1,
                             params={"optim.base_lr": {"distribution": "float", "low": 0.05, "high": 5.0,
                                                       "log": True}},
                             points_to_evaluate=[{"optim.base_lr": lr}])
    runs = tmp_path / "runs"
    cli = [sys.executable, "-m", "tuning.cli"]
    done = subprocess.run([*cli, "tune", "--space", str(space), "--name", name, "--runs-dir", str(runs)],
                          capture_output=True, text=True, timeout=600)
    status = subprocess.run([*cli, "status", name, "--runs-dir", str(runs), "--format", "json"], capture_output=True,
                            text=True, timeout=120)
    return done, json.loads(status.stdout)


@pytest.mark.slow
def test_a_campaign_says_when_its_best_sits_at_a_bound_and_not_when_inside(ray_cluster, tmp_path):
    at_edge, edge_status = _campaign(tmp_path, "edge", 5.0)
    assert at_edge.returncode == 0, at_edge.stdout[-3000:]
    assert "optim.base_lr=5 is at the upper bound" in at_edge.stdout
    assert edge_status["at_bound"] and "optim.base_lr=5 is at the upper bound" in edge_status["at_bound"][0]
    inside, inside_status = _campaign(tmp_path, "inside", 0.5)
    assert inside.returncode == 0 and "bound" not in inside.stdout and inside_status["at_bound"] == []
