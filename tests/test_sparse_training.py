"""The mask holds exactly through training, and a run is deterministic for a seed on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pai_bench.data import load_dataset
from pai_bench.run import execute
from pai_bench.sparse import SparseState
from pai_bench.spec import RunSpec, Scoring, Training


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", size=8, channels=1)


def spec(method: str = "snip", **changes) -> RunSpec:
    base = dict(
        model="small_cnn", dataset="digits", method=method, sparsity=0.9, warmup_epochs=1, seed=0,
        dataset_options=(("channels", 1), ("size", 8)),
        training=Training(epochs=3, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-3,
                          schedule="constant"),
        scoring=Scoring(samples=128, batch_size=64),
    )
    base.update(changes)
    return RunSpec(**base)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_pruned_weights_are_exactly_zero_after_training(digits, optimizer):
    s = spec(training=Training(epochs=3, batch_size=128, lr=0.05 if optimizer == "sgd" else 0.01,
                               optimizer=optimizer, momentum=0.9, weight_decay=5e-3,
                               schedule="constant"))
    result = execute(s, digits)
    total = kept = 0
    for name, mask in result.masks.items():
        weight = result.model.get_parameter(name).detach()
        assert (weight[~mask] == 0).all(), f"{name}: a pruned weight came back"
        assert (weight[mask] != 0).all(), f"{name}: a kept weight is exactly zero"
        total += mask.numel()
        kept += int(mask.sum())
    assert kept == int(0.1 * total + 1e-9)  # exactly int((1 − s)·N)
    assert result.metrics["achieved_sparsity"] == pytest.approx(1 - kept / total, abs=0)
    assert result.metrics["revived_weights"] == 0


def test_optimizer_state_is_cleared_at_pruning_and_stays_clear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))

    def step(sparse=None):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if sparse:
            sparse.mask_gradients()
        opt.step()
        if sparse:
            sparse.apply()

    for _ in range(3):  # dense steps fill the momentum buffers
        step()
    mask = (torch.rand(8, 6) > 0.5).float()
    sparse = SparseState(model, {"0.weight": mask})
    sparse.prune(opt)
    buffer = opt.state[model[0].weight]["momentum_buffer"]
    assert (buffer[mask == 0] == 0).all()
    for _ in range(5):
        step(sparse)
        assert (model[0].weight[mask == 0] == 0).all()
        assert (opt.state[model[0].weight]["momentum_buffer"][mask == 0] == 0).all()


def test_same_seed_same_masks_and_metrics(digits):
    a, b = execute(spec("fts"), digits), execute(spec("fts"), digits)
    assert a.masks.keys() == b.masks.keys()
    assert all(torch.equal(a.masks[n], b.masks[n]) for n in a.masks)
    assert a.history == b.history
    drop = {"scoring_seconds", "scoring_peak_memory_mb"}
    assert {k: v for k, v in a.metrics.items() if k not in drop} == {
        k: v for k, v in b.metrics.items() if k not in drop}
    c = execute(spec("fts", seed=1), digits)
    assert any(not torch.equal(a.masks[n], c.masks[n]) for n in a.masks)


def test_dense_baseline_has_no_mask(digits):
    result = execute(spec("dense", sparsity=0.0, warmup_epochs=0), digits)
    assert result.masks == {} and "achieved_sparsity" not in result.metrics
    assert 0 <= result.metrics["final_test_acc"] <= 1


def test_nan_loss_is_a_diverged_error():
    from pai_bench.train import Diverged, train_epoch

    model = nn.Linear(4, 3)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,)))]
    with pytest.raises(Diverged, match="nan"):
        train_epoch(model, batches, opt, device=torch.device("cpu"))
