"""Method registry: a method is a loss function, the arguments it fixes, and its tunable
parameters with their defaults (the only place those defaults are written).  Adding a
method is one entry here (plus its loss)."""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import torch

from models import losses


class LossOutput(NamedTuple):
    """A loss value and, for methods made of weighted terms, the unweighted terms by name
    (computed in the same pass; detach them before logging)."""
    total: torch.Tensor
    terms: dict[str, torch.Tensor]


LossFn = Callable[[torch.Tensor, torch.Tensor], LossOutput]


@dataclass(frozen=True)
class Method:
    loss: Callable[..., torch.Tensor]
    params: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    family: str = "sample-contrastive"
    description: str = ""
    returns_terms: bool = False  # the loss returns (total, {term: value})
    trains_on_labels: bool = False  # the online probe's gradient reaches the backbone (the supervised ceiling)

    def __post_init__(self):
        accepted = set(inspect.signature(self.loss).parameters) - {"z_a", "z_b"}
        unknown = (set(self.params) | set(self.fixed)) - accepted
        if unknown:
            raise TypeError(f"{self.loss.__name__} takes no argument(s) {sorted(unknown)}")


METHODS: dict[str, Method] = {
    "simclr": Method(losses.info_nce, {"temperature": 0.15, "normalization": "embedding"},
                     description="SimCLR InfoNCE (Eqs. 16-17); normalization: embedding | centering | standardization"),
    "simclr-sq": Method(losses.info_nce, {"temperature": 0.15}, {"similarity": "sq"},
                        description="SimCLR on squared cosine similarities (Eq. 30)"),
    "simclr-abs": Method(losses.info_nce, {"temperature": 0.15}, {"similarity": "abs"},
                         description="SimCLR on absolute cosine similarities (Eq. 31)"),
    "dcl": Method(losses.info_nce, {"temperature": 0.15}, {"decoupled": True},
                  description="Decoupled contrastive loss (Eq. 15)"),
    "dcl-sq": Method(losses.info_nce, {"temperature": 0.15}, {"decoupled": True, "similarity": "sq"},
                     description="DCL on squared similarities (Eq. 27)"),
    "dcl-abs": Method(losses.info_nce, {"temperature": 0.15}, {"decoupled": True, "similarity": "abs"},
                      description="DCL on absolute similarities (Eq. 27)"),
    "scl": Method(losses.spectral_contrastive, {"mu": 1.0},
                  description="Spectral contrastive loss, exactly L_c (Eqs. 18/32)"),
    "vicreg": Method(losses.vicreg, {"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0},
                     {"covariance": "squares"}, family="dimension-contrastive",
                     description="VICReg (Eqs. 20-21)", returns_terms=True),
    "vicreg-exp": Method(losses.vicreg, {"sim_weight": 1.0, "var_weight": 1.0, "cov_weight": 2.0, "temperature": 0.1},
                         {"covariance": "logsumexp"}, family="dimension-contrastive",
                         description="VICReg with a LogSumExp covariance term (Eq. 12, Algorithm 1)",
                         returns_terms=True),
    "vicreg-ctr": Method(losses.vicreg, {"sim_weight": 1.0, "var_weight": 1.0, "cov_weight": 1.0, "temperature": 0.15},
                         {"covariance": "logsumexp", "transpose": True},
                         description="VICReg-exp on the transposed matrix (Eq. 13, Algorithm 2)",
                         returns_terms=True),
    "barlow-twins": Method(losses.barlow_twins, {"lambd": 0.0051}, family="dimension-contrastive",
                           description="Barlow Twins (Eqs. 19/33)"),
    "tcr": Method(losses.tcr, {"eps": 0.5, "inv_weight": 1.0}, family="dimension-contrastive",
                  description="Total coding rate (Eqs. 22/37) with cosine invariance"),
    "supervised": Method(losses.no_self_supervision, {}, family="supervised", trains_on_labels=True,
                         description="No self-supervised term: the backbone learns from the labels through its "
                                     "online probe's cross-entropy (the supervised ceiling beside the baselines)"),
}


def get_method(name: str) -> Method:
    """The registered method ``name``; a clear error lists the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; allowed: {', '.join(sorted(METHODS))}") from None


def check_loss_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``params`` for method ``name``: unknown names and wrong types are errors.
    Returns the method's defaults updated with ``params``."""
    method = get_method(name)
    unknown = set(params) - set(method.params)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for method {name!r}; "
                         f"allowed: {', '.join(sorted(method.params)) or 'none'}")
    merged = dict(method.params)
    for key, value in params.items():
        default = method.params[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            raise ValueError(f"loss parameter {key!r} of method {name!r} must be {type(default).__name__}, "
                             f"got {value!r}")
        merged[key] = value
    return merged


def build_loss(name: str, params: dict[str, Any] | None = None) -> LossFn:
    """The loss of method ``name`` with ``params`` bound: a function of (z_a, z_b) giving a
    LossOutput (the total, and the VICReg family's terms from the same pass)."""
    method = get_method(name)
    bound = functools.partial(method.loss, **method.fixed, **check_loss_params(name, params or {}))

    def loss(z_a: torch.Tensor, z_b: torch.Tensor) -> LossOutput:
        value = bound(z_a, z_b)
        return LossOutput(*value) if method.returns_terms else LossOutput(value, {})

    return loss
