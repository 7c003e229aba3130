"""The network a config describes: one place that turns the model section into an SSLModel."""
from __future__ import annotations

from models.registry import get_method
from models.ssl_model import SSLModel
from tuning.config import PretrainConfig


def build_network(cfg: PretrainConfig, num_classes: int) -> SSLModel:
    """Backbone, projector and online probes of ``cfg`` for ``num_classes`` classes."""
    return SSLModel(cfg.model.backbone, cfg.model.projector, cfg.model.embedding_dim, num_classes,
                    cfg.model.small_stem, cfg.probe.online_on_embedding,
                    supervised=get_method(cfg.loss.method).trains_on_labels)
