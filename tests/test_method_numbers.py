"""Every method's numbers against an independent computation: a batch-size-1 autograd loop for the
Fisher family, plain autograd for SNIP and GN, an explicit Hessian for GraSP, the closed form of a
linear chain for SynFlow."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pai_bench import compute_masks, compute_scores
from pai_bench.masks import density_schedule, masks_from_scores


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 5),
        nn.Tanh(),
        nn.Linear(5, 4),
    ).double()
    with torch.no_grad():  # non-trivial eval-mode statistics
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(12, 2, 4, 4, generator=g, dtype=torch.float64), torch.randint(
        0, 4, (12,), generator=g
    )


PRUNABLE = ["0.weight", "4.weight", "6.weight"]


def loop_gradients(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1):
    """Gradients of consecutive `batch`-sample mini-batches, one backward each, model in eval."""
    net.eval()
    params = [net.get_parameter(n) for n in PRUNABLE]
    out = []
    for i in range(0, len(y), batch):
        loss = F.cross_entropy(net(x[i : i + batch]), y[i : i + batch])
        out.append([g.detach() for g in torch.autograd.grad(loss, params)])
    return out


def reference_stats(net, x, y, batch=1):
    grads = loop_gradients(net, x, y, batch)
    g_bar = [torch.stack([g[i] for g in grads]).mean(0) for i in range(len(PRUNABLE))]
    fisher = [batch * torch.stack([g[i] ** 2 for g in grads]).mean(0) for i in range(len(PRUNABLE))]
    return g_bar, fisher


def scores(method, net, x, y, **options):
    return compute_scores(
        method, net, [(x[:5], y[:5]), (x[5:], y[5:])], prune_classifier=True, **options
    )


@pytest.mark.parametrize("mask_batch", [1, 4])
def test_fisher_family_matches_loop(data, mask_batch):
    x, y = data
    net = tiny_net()
    g_bar, fisher = reference_stats(net, x, y, mask_batch)
    # the mini-batch split follows the given batches (5 + 7 samples): recompute it that way
    if mask_batch > 1:
        grads = loop_gradients(net, x[:5], y[:5], mask_batch) + loop_gradients(
            net, x[5:], y[5:], mask_batch
        )
        fisher = [
            mask_batch * torch.stack([g[i] ** 2 for g in grads]).mean(0)
            for i in range(len(PRUNABLE))
        ]
    got = {
        m: scores(m, net, x, y, mask_batch=mask_batch)
        for m in ["fts", "fisher_diag", "fisher_pruning", "fbss"]
    }
    for i, name in enumerate(PRUNABLE):
        theta = net.get_parameter(name).detach()
        expect = {
            "fts": (theta * g_bar[i] + 0.5 * theta**2 * fisher[i]).abs(),
            "fisher_diag": fisher[i],
            "fisher_pruning": 0.5 * theta**2 * fisher[i],
            "fbss": 0.5 * (fisher[i] + 1e-8) * (theta - g_bar[i] / (fisher[i] + 1e-8)) ** 2,
        }
        for m, e in expect.items():
            torch.testing.assert_close(got[m][name], e, rtol=1e-9, atol=1e-12, msg=f"{m} {name}")


def test_fbss_is_finite_where_fisher_is_zero(data):
    x, y = data
    net = tiny_net()
    with torch.no_grad():
        net[4].weight[0].zero_()  # unit 0 of layer 4 outputs tanh(0) = 0 for every input,
        net[4].bias[0].zero_()  # so its outgoing weights get no gradient: F̂ = ḡ = 0 there
    s = scores("fbss", net, x, y)
    assert torch.isfinite(s["6.weight"]).all()
    assert (s["6.weight"][:, 0] == 0.5 * 1e-8 * net[6].weight[:, 0].detach() ** 2).all()


def test_snip_and_grad_norm_match_autograd(data):
    x, y = data
    net = tiny_net().eval()
    params = [net.get_parameter(n) for n in PRUNABLE]
    g = torch.autograd.grad(F.cross_entropy(net(x), y), params)
    snip, gn = scores("snip", net, x, y), scores("grad_norm", net, x, y)
    for name, p, gi in zip(PRUNABLE, params, g):
        torch.testing.assert_close(snip[name], (p * gi).abs().detach())
        torch.testing.assert_close(gn[name], gi.abs())


def test_train_mode_uses_batch_statistics(data):
    x, y = data
    net = tiny_net()
    eval_scores = scores("snip", net, x, y)
    train_scores = scores("snip", net, x, y, mode="train")
    assert not torch.allclose(eval_scores["0.weight"], train_scores["0.weight"])
    assert net.training  # the caller's model keeps its own mode


@pytest.mark.parametrize("temperature", [1.0, 200.0])
def test_grasp_matches_explicit_hessian(data, temperature):
    x, y = data
    net = tiny_net().eval()
    shapes = [net.get_parameter(n).shape for n in PRUNABLE]
    theta = torch.cat([net.get_parameter(n).detach().flatten() for n in PRUNABLE])

    def loss_of(vector: torch.Tensor) -> torch.Tensor:
        chunks, offset = {}, 0
        for n, s in zip(PRUNABLE, shapes):
            chunks[n] = vector[offset : offset + s.numel()].view(s)
            offset += s.numel()
        out = torch.func.functional_call(net, chunks, (x,))
        return F.cross_entropy(out / temperature, y)

    hessian = torch.autograd.functional.hessian(loss_of, theta)
    gradient = torch.autograd.functional.jacobian(loss_of, theta)
    expected = theta * (hessian @ gradient)
    got = scores("grasp", net, x, y, temperature=temperature)
    flat = torch.cat([got[n].flatten() for n in PRUNABLE])
    torch.testing.assert_close(flat, expected, rtol=1e-7, atol=1e-14)


def chain(widths: list[int], seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Linear(a, b, bias=False) for a, b in zip(widths, widths[1:])])


def synflow_closed_form(weights: list[torch.Tensor]) -> list[torch.Tensor]:
    """R = 1ᵀ|W_L|…|W_1|1, so ∂R/∂|W_l|[i, j] = (1ᵀ|W_L|…|W_{l+1}|)_i · (|W_{l-1}|…|W_1|1)_j."""
    a = [w.abs() for w in weights]
    out = []
    for layer in range(len(a)):
        left = torch.ones(a[-1].shape[0], dtype=torch.float64)
        for w in reversed(a[layer + 1 :]):
            left = left @ w
        right = torch.ones(a[0].shape[1], dtype=torch.float64)
        for w in a[:layer]:
            right = w @ right
        out.append(a[layer] * torch.outer(left, right))
    return out


def test_synflow_matches_closed_form_of_linear_chain():
    net = chain([6, 5, 4, 3])
    names = ["0.weight", "1.weight", "2.weight"]
    got = compute_scores("synflow", net, None, input_shape=(6,), prune_classifier=True)
    expected = synflow_closed_form([net.get_parameter(n).detach().double() for n in names])
    for n, e in zip(names, expected):
        assert got[n].dtype == torch.float64
        torch.testing.assert_close(got[n], e)


def test_synflow_iterative_schedule_matches_closed_form_loop():
    net = chain([20, 16, 12, 6], seed=3)
    names = ["0.weight", "1.weight", "2.weight"]
    sparsity, rounds = 0.97, 7
    weights = [net.get_parameter(n).detach().double() for n in names]
    alive = None
    for s in density_schedule(sparsity, rounds):
        masked = weights if alive is None else [w * alive[n] for w, n in zip(weights, names)]
        closed = dict(zip(names, synflow_closed_form(masked)))
        alive = masks_from_scores(closed, s, alive=alive)
    got = compute_masks(
        "synflow", net, None, sparsity, input_shape=(20,), prune_classifier=True, rounds=rounds
    )
    for n in names:
        assert torch.equal(got[n].bool(), alive[n].bool()), n


def test_random_is_seeded(data):
    x, y = data
    net = tiny_net()
    a, b = scores("random", net, x, y, seed=7), scores("random", net, x, y, seed=7)
    c = scores("random", net, x, y, seed=8)
    assert all(torch.equal(a[n], b[n]) for n in PRUNABLE)
    assert not torch.equal(a["0.weight"], c["0.weight"])


def test_magnitude_is_absolute_weight(data):
    x, y = data
    net = tiny_net()
    s = scores("magnitude", net, x, y)
    for n in PRUNABLE:
        assert torch.equal(s[n], net.get_parameter(n).detach().abs())


def test_synflow_bias_flow_off_equals_the_chain_without_biases():
    torch.manual_seed(0)
    with_bias = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 3)).double()
    names = ["0.weight", "1.weight", "2.weight"]
    got = compute_scores("synflow", with_bias, None, input_shape=(6,), prune_classifier=True,
                         bias_flow=False)
    expected = synflow_closed_form([with_bias.get_parameter(n).detach() for n in names])
    for n, e in zip(names, expected):
        torch.testing.assert_close(got[n], e)
    default = compute_scores("synflow", with_bias, None, input_shape=(6,), prune_classifier=True)
    assert not torch.allclose(default["1.weight"], got["1.weight"])  # biases add flow by default
