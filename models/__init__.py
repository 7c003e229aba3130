"""Backbones, projectors, the paper's loss family, LARS, schedules and probes."""
from models.gather import gather_batch
from models.registry import METHODS, build_loss, get_method

__all__ = ["METHODS", "build_loss", "gather_batch", "get_method"]
