"""Checkpoints load without executing code: plain tensors pass, pickled objects are refused."""
import os

import pytest
import torch

from tuning.run.checkpoints import (
    HISTORY_FILE,
    STATE_FILE,
    load_backbone_weights,
    load_history,
    load_metrics,
    load_training_state,
    newest_checkpoint,
    save_backbone,
    save_training_state,
)


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_training_state_round_trips(tmp_path):
    state = {"model": {"w": torch.arange(4.0)}, "epoch": 3}
    history = [{"epoch": 1, "loss": 5.0}, {"epoch": 2, "loss": 4.5}, {"epoch": 3, "loss": 4.25}]
    save_training_state(tmp_path, state, {"seed": 1}, history)
    loaded = load_training_state(tmp_path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(4.0))
    assert load_history(tmp_path) == history and load_metrics(tmp_path) == history[-1]


def test_a_checkpoint_without_a_history_gives_its_own_report(tmp_path):
    save_training_state(tmp_path, {"epoch": 0}, {}, [{"epoch": 1, "loss": 5.0}])
    (tmp_path / HISTORY_FILE).unlink()  # as written before histories were kept
    assert load_history(tmp_path) == [{"epoch": 1, "loss": 5.0}]


def test_pickled_payload_in_a_checkpoint_is_refused(tmp_path):
    torch.save({"model": {}, "epoch": Payload()}, tmp_path / STATE_FILE)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_training_state(tmp_path)


def test_backbone_is_saved_as_safetensors(tmp_path):
    backbone = torch.nn.Linear(3, 2)
    path = save_backbone(tmp_path, backbone)
    assert path.read_bytes()[:8] != b"\x80\x04\x95" and path.suffix == ".safetensors"
    weights = load_backbone_weights(path)
    assert torch.equal(weights["weight"], backbone.weight.detach())


def test_newest_checkpoint_is_chosen_by_recorded_epoch(tmp_path):
    for name, epoch in (("checkpoint_000002", 2), ("checkpoint_000000", 3), ("checkpoint_000001", 1)):
        save_training_state(tmp_path / name, {"epoch": epoch}, {}, [{"epoch": epoch}])
    (tmp_path / "checkpoint_000009").mkdir()  # a folder still being written: no metrics yet
    (tmp_path / "checkpoint_manager_snapshot.json").write_text("{}")
    assert newest_checkpoint(tmp_path) == str(tmp_path / "checkpoint_000000")
    assert newest_checkpoint(tmp_path / "none") is None
