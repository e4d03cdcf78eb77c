"""The batched Fisher equals the batch-size-1 loop (both per-sample paths: unfold for few
output positions, grouped convolution for many): float64 within 1e-6 relative, float32 within
1e-3, on convolutions of every shape, shared weights, in-place activations, a real ResNet, and a
custom layer that falls back to the exact per-sample path (and says so once)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pai_bench import compute_scores, fisher
from pai_bench.models import build_model


def loop_fisher(model: nn.Module, names: list[str], x: torch.Tensor, y: torch.Tensor,
                with_mean: bool = False):
    model.eval()
    params = [model.get_parameter(n) for n in names]
    f = [torch.zeros_like(p) for p in params]
    m = [torch.zeros_like(p) for p in params]
    for i in range(len(y)):
        g = torch.autograd.grad(F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]), params)
        for acc, mean, gi in zip(f, m, g):
            acc += gi.square()
            mean += gi
    fisher = {n: fi / len(y) for n, fi in zip(names, f)}
    if with_mean:
        return fisher, {n: mi / len(y) for n, mi in zip(names, m)}
    return fisher


class Shared(nn.Module):
    """One conv applied twice (weight sharing) and a Linear over a sequence dimension."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.seq = nn.Linear(4, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(torch.relu(self.conv(x))))
        tokens = h.flatten(2).transpose(1, 2)  # (n, positions, channels)
        return self.head(self.seq(tokens).mean(1))


def nets() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    return {
        "conv shapes": (nn.Sequential(
            nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
            nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=3), nn.ReLU(inplace=True),
            nn.Conv2d(6, 4, (1, 3), padding=(0, 1)), nn.Flatten(), nn.Linear(4 * 4 * 4, 5),
        ), (3, 8, 8)),
        "shared weights": (Shared(), (4, 5, 5)),
        "large maps (grouped-conv path)": (nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(3, 6, 3, padding=1, groups=3), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(24, 3),
        ), (2, 16, 16)),
        "resnet20": (build_model("resnet20", num_classes=10, input_shape=(3, 8, 8)), (3, 8, 8)),
    }


@pytest.mark.parametrize("name", list(nets()))
@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-6), (torch.float32, 1e-3)])
def test_batched_fisher_equals_loop(name, dtype, rtol):
    model, shape = nets()[name]
    model = model.to(dtype).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, *shape, generator=g).to(dtype)
    y = torch.randint(0, 3, (10,), generator=g)
    names = [n for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
    fast, slow = fisher.split_supported(model, names)
    assert fast == names and not slow
    got_g, got = fisher.batched_fisher(model, names, [(x[:4], y[:4]), (x[4:], y[4:])],
                                       F.cross_entropy, chunk_elements=64)  # tiny chunks
    want, want_g = loop_fisher(model, names, x, y, with_mean=True)
    for n in names:
        scale = want[n].abs().max()
        torch.testing.assert_close(got[n] / len(y) / scale, want[n] / scale, rtol=rtol,
                                   atol=rtol, msg=n)
        scale = want_g[n].abs().max()
        torch.testing.assert_close(got_g[n] / len(y) / scale, want_g[n] / scale, rtol=rtol,
                                   atol=rtol, msg=f"mean gradient of {n}")
    assert all(p.requires_grad for p in model.parameters())  # flags restored


def test_layer_without_batched_rule_falls_back_exactly_and_warns_once(monkeypatch):
    monkeypatch.setattr(fisher, "_warned", set())
    torch.manual_seed(0)
    # Conv1d is prunable (by module type) but has no batched rule: the per-sample path serves it
    model = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4, 4),
                          nn.Tanh(), nn.Linear(4, 3)).double()
    x = torch.randn(8, 2, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    names = ["0.weight", "3.weight"]
    with pytest.warns(UserWarning, match="Conv1d.*exact per-sample path"):
        got = compute_scores("fisher_diag", model, [(x[:3], y[:3]), (x[3:], y[3:])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: silent
        compute_scores("fisher_diag", model, [(x, y)])
    want = loop_fisher(model, names, x, y)
    for n in names:
        torch.testing.assert_close(got[n], want[n], rtol=1e-9, atol=0)
