"""Exact kept counts for every method at s ∈ {0.5, 0.9, 0.99, 0.999}, global and per layer, on
ResNet18 and VGG19, scored on a few real digits (32×32, 3 channels)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import torch

from pai_bench import compute_scores, prune
from pai_bench.data import load_dataset
from pai_bench.data.sampling import scoring_batches
from pai_bench.masks import masks_from_scores
from pai_bench.method import METHODS
from pai_bench.models import build_model

SPARSITIES = [0.5, 0.9, 0.99, 0.999]


def expected(total: int, sparsity: float) -> int:
    return int((Decimal(1) - Decimal(str(sparsity))) * total)


@pytest.fixture(scope="module", params=["resnet18", "vgg19"])
def setup(request):
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model(request.param, num_classes=10, input_shape=data.input_shape)
    batches = scoring_batches(data, samples=4, batch_size=4, seed=0, device="cpu")
    return model, batches


def check(masks: dict[str, torch.Tensor], sparsity: float, scope: str) -> None:
    if scope == "global":
        total = sum(m.numel() for m in masks.values())
        assert sum(int(m.sum()) for m in masks.values()) == expected(total, sparsity)
    else:
        for name, m in masks.items():
            assert int(m.sum()) == expected(m.numel(), sparsity), name


@pytest.mark.parametrize("method", [m for m in METHODS.names() if METHODS.get(m).rounds == 1])
def test_one_shot_methods(setup, method):
    model, batches = setup
    scores = compute_scores(method, model, batches)  # scored once, masked at every sparsity
    for sparsity in SPARSITIES:
        for scope in ("global", "layer"):
            check(masks_from_scores(scores, sparsity, scope=scope), sparsity, scope)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_iterative_synflow(setup, scope):
    model, batches = setup
    for sparsity in SPARSITIES:  # 2 rounds instead of 100: the last round hits the target exactly
        check(prune("synflow", model, batches, sparsity, scope=scope, rounds=2).masks,
              sparsity, scope)
