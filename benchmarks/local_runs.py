"""Pretrainings that benchmarks run in their own processes, without Ray: one preset with
overrides, through the same loop a trial runs, its reports (and checkpoints) kept."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tuning.config import PretrainConfig


def preset_config(preset: str, overrides: dict[str, Any]) -> PretrainConfig:
    """The preset with dotted-key ``overrides`` set, validated."""
    from tuning.campaign.space import load_preset
    from tuning.config import validate_config, with_overrides

    return validate_config(with_overrides(load_preset(preset).model_dump(mode="json"), overrides))


def pretrain_locally(cfg: PretrainConfig, data_dir: str | Path, checkpoint_root: Path | None = None):
    """Pretrain ``cfg`` in this process (data written into ``data_dir`` once); the session
    holds every epoch's report, and each checkpoint is kept under ``checkpoint_root``."""
    from tuning.run.data import prepare_data
    from tuning.run.loop import RunRequest, pretrain
    from tuning.run.sessions import LocalSession

    session = LocalSession(checkpoint_root=checkpoint_root)
    pretrain(RunRequest(cfg, prepare_data(cfg, Path(data_dir)), requested_at=0.0), session)
    return session
