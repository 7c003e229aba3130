"""The method registry: an unknown method, parameter, parameter type or option value is refused,
naming what is allowed."""
import pytest
import torch

from models.registry import build_loss, check_loss_params


def test_unknown_loss_parameter_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['tau'\].*allowed: normalization, temperature"):
        check_loss_params("simclr", {"tau": 0.1})


def test_unknown_method_lists_known_methods():
    with pytest.raises(ValueError, match="unknown method 'byol'.*simclr"):
        build_loss("byol")


def test_wrong_parameter_type_is_rejected():
    with pytest.raises(ValueError, match="temperature.*must be float"):
        check_loss_params("simclr", {"temperature": "hot"})


def test_unknown_option_values_are_rejected():
    a = b = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown normalization 'whiten'"):
        build_loss("simclr", {"normalization": "whiten"})(a, b)
