"""Scores are computed once per configuration and reused for every sparsity: the reused masks equal
freshly computed ones, the reuse shows in the run's tags, and the key tells configurations apart."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pai_bench.data import load_dataset
from pai_bench.run import execute
from pai_bench.score_cache import ScoreCache, score_key
from pai_bench.spec import RunSpec, Scoring, Training


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=8, channels=1)


def spec(**changes) -> RunSpec:
    base = dict(model="tiny_cnn", dataset="digits", method="fts", sparsity=0.5, warmup_epochs=1,
                seed=0, dataset_options=(("channels", 1), ("size", 8)),
                training=Training(epochs=2, batch_size=256, lr=0.05, schedule="constant"),
                scoring=Scoring(samples=64, batch_size=64))
    base.update(changes)
    return RunSpec(**base)


def test_reused_scores_give_the_masks_of_a_fresh_computation(digits):
    cache = ScoreCache()
    first = execute(spec(sparsity=0.5), digits, score_cache=cache)
    second = execute(spec(sparsity=0.9), digits, score_cache=cache)
    fresh = execute(spec(sparsity=0.9), digits)
    assert first.scores_reused_from is None
    assert second.scores_reused_from == spec(sparsity=0.5).key
    assert all(torch.equal(second.masks[n], fresh.masks[n]) for n in fresh.masks)
    assert second.history == fresh.history


def test_key_covers_what_scores_depend_on():
    cpu = torch.device("cpu")
    key = score_key(spec(), {"mask_batch": 1, "mode": "eval"}, cpu)
    assert key == score_key(spec(sparsity=0.99), {"mask_batch": 1, "mode": "eval"}, cpu)
    assert key == score_key(spec(pruning=dataclasses.replace(spec().pruning, scope="layer")),
                            {"mask_batch": 1, "mode": "eval"}, cpu)
    different = [
        score_key(spec(seed=1), {"mask_batch": 1, "mode": "eval"}, cpu),
        score_key(spec(warmup_epochs=0), {"mask_batch": 1, "mode": "eval"}, cpu),
        score_key(spec(method="snip"), {"mode": "eval"}, cpu),
        score_key(spec(), {"mask_batch": 4, "mode": "eval"}, cpu),
        score_key(spec(training=dataclasses.replace(spec().training, lr=0.1)),
                  {"mask_batch": 1, "mode": "eval"}, cpu),
        score_key(spec(scoring=Scoring(samples=32, batch_size=64)),
                  {"mask_batch": 1, "mode": "eval"}, cpu),
        score_key(spec(dataset_options=(("channels", 3), ("size", 8))),
                  {"mask_batch": 1, "mode": "eval"}, cpu),
    ]
    assert key not in different and len(set(different)) == len(different)
    # after a warm-up on CUDA the warm-up itself is not bit-reproducible: no reuse
    assert score_key(spec(), {}, torch.device("cuda")) is None
    assert score_key(spec(warmup_epochs=0), {}, torch.device("cuda")) is not None


def test_iterative_methods_are_not_cached(digits):
    cache = ScoreCache()
    execute(spec(method="synflow", method_options=(("rounds", 3),)), digits, score_cache=cache)
    again = execute(spec(method="synflow", method_options=(("rounds", 3),), sparsity=0.9),
                    digits, score_cache=cache)
    assert again.scores_reused_from is None
