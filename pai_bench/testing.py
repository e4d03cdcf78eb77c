"""Conformance checks every method must pass, shipped so that plug-in authors run them too.

    from pai_bench.testing import check_method
    check_method("my_method")            # raises AssertionError naming the broken promise

or, in a test suite, parametrize over `CHECKS` as tests/test_conformance.py does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pai_bench.errors import ConfigError
from pai_bench.masks import kept_count, prunable_names
from pai_bench.method import METHODS
from pai_bench.scoring import compute_masks, compute_scores

SPARSITIES = (0.5, 0.9, 0.99)


def reference_model(seed: int = 0) -> nn.Module:
    """A small CNN with BN and a classifier: cheap, but every building block of real models."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4),
    )


def reference_batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(6, 3, 8, 8, generator=g), torch.randint(0, 4, (6,), generator=g))
            for _ in range(2)]


def _fast_options(name: str) -> dict[str, Any]:
    # iterative methods: fewer rounds keep the checks quick without changing what they test
    fields = {f.name for f in dataclasses.fields(METHODS.get(name))}
    return {"rounds": 5} if "rounds" in fields else {}


def check_scores_cover_prunable(name: str) -> None:
    model = reference_model()
    scores = compute_scores(name, model, reference_batches(), **_fast_options(name))
    names = prunable_names(model)
    assert list(scores) == names, f"{name}: score keys {list(scores)} != prunable {names}"
    for n in names:
        s, p = scores[n], model.get_parameter(n)
        assert s.shape == p.shape, f"{name}: score of {n} has shape {tuple(s.shape)}"
        assert torch.isfinite(s).all(), f"{name}: score of {n} is not finite"


def check_deterministic(name: str) -> None:
    a = compute_scores(name, reference_model(), reference_batches(), **_fast_options(name))
    b = compute_scores(name, reference_model(), reference_batches(), **_fast_options(name))
    for n in a:
        assert torch.equal(a[n], b[n]), f"{name}: two identical calls scored {n} differently"


def check_model_unchanged(name: str) -> None:
    model = reference_model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    compute_masks(name, model, reference_batches(), 0.9, **_fast_options(name))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{name}: scoring changed {k}"
    assert model.training, f"{name}: scoring changed the model's mode"
    assert all(m.training for m in model.modules()), f"{name}: scoring changed a module's mode"
    assert [p.requires_grad for p in model.parameters()] == flags, f"{name}: changed requires_grad"
    assert all(p.grad is None for p in model.parameters()), f"{name}: left .grad behind"


def check_exact_counts(name: str) -> None:
    model, batches = reference_model(), reference_batches()
    for sparsity in SPARSITIES:
        for scope in ("global", "layer"):
            masks = compute_masks(name, model, batches, sparsity, scope=scope,
                                  **_fast_options(name))
            assert all(((m == 0) | (m == 1)).all() for m in masks.values()), f"{name}: not 0/1"
            if scope == "global":
                total = sum(m.numel() for m in masks.values())
                kept = sum(int(m.sum()) for m in masks.values())
                want = kept_count(total, sparsity)
                assert kept == want, f"{name}: kept {kept} != {want} at s={sparsity} global"
            else:
                for n, m in masks.items():
                    want = kept_count(m.numel(), sparsity)
                    assert int(m.sum()) == want, f"{name}: {n} kept {int(m.sum())} != {want}"


def check_rejects_bad_options(name: str) -> None:
    try:
        compute_scores(name, reference_model(), reference_batches(), no_such_option=1)
    except ConfigError as exc:
        assert "no_such_option" in str(exc) and "\n" not in str(exc), f"{name}: unclear: {exc}"
    else:
        raise AssertionError(f"{name}: an unknown option was accepted")
    try:
        compute_scores(name, reference_model(), reference_batches(), mode="sideways")
    except ConfigError:
        pass
    else:
        raise AssertionError(f"{name}: mode='sideways' was accepted")


CHECKS: dict[str, Callable[[str], None]] = {
    "scores_cover_prunable": check_scores_cover_prunable,
    "deterministic": check_deterministic,
    "model_unchanged": check_model_unchanged,
    "exact_counts": check_exact_counts,
    "rejects_bad_options": check_rejects_bad_options,
}


def check_method(name: str) -> None:
    """Run every conformance check on the registered method `name`."""
    for check in CHECKS.values():
        check(name)
