"""Masks: exact kept counts, deterministic ties, prunable-parameter policy, collapse reporting."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pai_bench.errors import ConfigError, PaiBenchError
from pai_bench.masks import (
    achieved_sparsity,
    collapsed_layers,
    density_schedule,
    kept_count,
    layer_densities,
    masks_from_scores,
    prunable_names,
    top_k_mask,
)


@pytest.mark.parametrize(
    ("total", "sparsity", "kept"),
    [
        (1000, 0.9, 100),
        (1000, 0.99, 10),
        (1000, 0.999, 1),
        (1000, 0.5, 500),
        (7, 0.5, 3),
        (11_173_962, 0.99, 111_739),
        (100, 0.0, 100),
        (3, 0.999, 0),
    ],
)
def test_kept_count_is_int_of_decimal(total, sparsity, kept):
    assert kept_count(total, sparsity) == kept


def test_top_k_breaks_ties_by_index():
    flat = torch.tensor([1.0, 3.0, 3.0, 2.0, 3.0, 3.0])
    assert top_k_mask(flat, 3).tolist() == [False, True, True, False, True, False]
    assert top_k_mask(torch.zeros(5), 2).tolist() == [True, True, False, False, False]
    assert not top_k_mask(flat, 0).any() and top_k_mask(flat, 6).all()


def brute_force_global(scores: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """Sort (score desc, position asc) with Python's sort: the reference ordering."""
    entries = []
    for li, (n, s) in enumerate(scores.items()):
        for j, v in enumerate(s.flatten().tolist()):
            entries.append((-v, li, j, n))
    keep = {n: torch.zeros(s.numel()) for n, s in scores.items()}
    for _, _, j, n in sorted(entries)[:k]:
        keep[n][j] = 1
    return {n: keep[n].view_as(s) for n, s in scores.items()}


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.97])
def test_global_mask_equals_brute_force_with_ties(sparsity):
    g = torch.Generator().manual_seed(0)
    scores = {  # few distinct values → many ties across layers
        "a": torch.randint(0, 4, (6, 5), generator=g).float(),
        "b": torch.randint(0, 4, (40,), generator=g).float(),
    }
    got = masks_from_scores(scores, sparsity)
    want = brute_force_global(scores, kept_count(70, sparsity))
    for n in scores:
        assert torch.equal(got[n], want[n])


def test_layer_scope_keeps_exact_count_per_layer():
    g = torch.Generator().manual_seed(0)
    scores = {"a": torch.rand(100, generator=g), "b": torch.rand(10, 30, generator=g)}
    masks = masks_from_scores(scores, 0.9, scope="layer")
    assert [d.kept for d in layer_densities(masks)] == [10, 30]
    for n, s in scores.items():  # and the kept ones are the top ones
        assert s[masks[n].bool()].min() >= s[~masks[n].bool()].max()


def test_alive_weights_stay_pruned():
    scores = {"a": torch.tensor([5.0, 4.0, 3.0, 2.0])}
    alive = {"a": torch.tensor([0.0, 1.0, 1.0, 1.0])}
    assert masks_from_scores(scores, 0.5, alive=alive)["a"].tolist() == [0, 1, 1, 0]


def test_nan_scores_and_bad_sparsity_are_errors():
    with pytest.raises(PaiBenchError, match="NaN"):
        masks_from_scores({"a": torch.tensor([1.0, float("nan")])}, 0.5)
    for bad in [1.0, -0.1, 1.5, float("nan"), "0.9"]:
        with pytest.raises(ConfigError, match=r"\[0, 1\)|not a number"):
            masks_from_scores({"a": torch.ones(3)}, bad)
    with pytest.raises(ConfigError, match="scope"):
        masks_from_scores({"a": torch.ones(3)}, 0.5, scope="row")


class Odd(nn.Module):
    """A parameter whose name contains 'conv' and 'weight' but belongs to no Conv/Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_weight = nn.Parameter(torch.ones(3))
        self.body = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten())
        self.head = nn.Linear(2, 2)


def test_prunable_by_module_type_classifier_optional():
    assert prunable_names(Odd()) == ["body.0.weight"]
    assert prunable_names(Odd(), prune_classifier=True) == ["body.0.weight", "head.weight"]


def test_collapse_and_sparsity_reports():
    masks = {"a": torch.zeros(4), "b": torch.tensor([1.0, 0, 1, 1])}
    assert collapsed_layers(masks) == ["a"]
    assert achieved_sparsity(masks) == pytest.approx(5 / 8)


def test_density_schedule_is_exponential_and_ends_on_target():
    sched = density_schedule(0.99, 4)
    assert sched[-1] == 0.99
    densities = [1 - s for s in sched]
    assert densities == pytest.approx([0.01 ** (k / 4) for k in range(1, 5)])
    assert density_schedule(0.9, 1) == [0.9]
