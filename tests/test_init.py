"""Initialization schemes: `kaiming_normal` is the Synaptic-Flow code's (He-normal weights with
std √(2 / fan_in), zero biases, BN γ = 1 and β = 0); `default` leaves the builder's weights."""

from __future__ import annotations

import math

import pytest
import torch

from pai_bench.errors import ConfigError
from pai_bench.models import build_model
from pai_bench.models.init import initialize


def test_kaiming_normal_matches_its_formula_on_vgg16():
    torch.manual_seed(0)
    model = initialize(build_model("vgg16", num_classes=10, input_shape=(3, 32, 32)),
                       "kaiming_normal")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        fan_in = conv.weight[0].numel()
        std = conv.weight.std().item()
        assert std == pytest.approx(math.sqrt(2 / fan_in), rel=0.05), conv
        assert conv.weight.mean().abs().item() < 0.05 * std
        assert conv.bias is None or torch.count_nonzero(conv.bias) == 0
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.count_nonzero(bn.bias) == 0
    fc = model.get_classifier()
    assert torch.count_nonzero(fc.bias) == 0


def test_default_changes_nothing_and_an_unknown_scheme_is_refused():
    torch.manual_seed(0)
    model = build_model("tiny_cnn", num_classes=10, input_shape=(1, 8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    initialize(model, "default")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ConfigError, match="use one of default, kaiming_normal"):
        initialize(model, "xavier")
