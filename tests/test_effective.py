"""Effective sparsity where the answer is known by construction."""

from __future__ import annotations

import torch
from torch import nn

from pai_bench.effective import effective_masks
from pai_bench.masks import prunable_names
from pai_bench.models import build_model


def test_dead_hidden_units_make_their_other_weights_ineffective():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    masks = {"0.weight": torch.ones(3, 4), "2.weight": torch.ones(3, 3),
             "4.weight": torch.ones(2, 3)}
    masks["0.weight"][0] = 0  # hidden unit 0 of layer 1 gets no input: its outgoing weights die
    masks["4.weight"][:, 2] = 0  # unit 2 of layer 2 reaches no output: its incoming weights die
    eff = effective_masks(mlp, masks, (4,))
    want_2 = torch.ones(3, 3)
    want_2[:, 0] = 0  # from the input-less unit
    want_2[2] = 0  # into the output-less unit
    assert torch.equal(eff["2.weight"], want_2)
    assert torch.equal(eff["0.weight"], masks["0.weight"])  # unit 1, 2 of layer 1 still feed units
    assert torch.equal(eff["4.weight"], masks["4.weight"])
    # the bias of the dead unit does not count as a path from the input
    assert eff["2.weight"][:, 0].sum() == 0


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.head = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.conv2(torch.relu(self.bn(self.conv1(x))))
        return self.head(nn.functional.adaptive_max_pool2d(y, 1).flatten(1))


def test_cut_residual_branch_while_shortcut_carries_the_signal():
    model = Block()
    masks = {"conv1.weight": torch.ones(2, 2, 3, 3), "conv2.weight": torch.zeros(2, 2, 3, 3)}
    eff = effective_masks(model, masks, (2, 5, 5))
    assert eff["conv1.weight"].sum() == 0  # the branch leads nowhere
    assert eff["conv2.weight"].sum() == 0
    head = effective_masks(model, {**masks, "head.weight": torch.ones(3, 2)}, (2, 5, 5))
    assert head["head.weight"].sum() == 6  # the shortcut still connects input and output


def test_dense_resnet_is_fully_effective_and_collapse_kills_everything_before():
    model = build_model("resnet20", num_classes=10, input_shape=(3, 8, 8))
    names = prunable_names(model)
    dense = {n: torch.ones_like(model.get_parameter(n)) for n in names}
    eff = effective_masks(model, dense, (3, 8, 8))
    assert all(torch.equal(eff[n], dense[n]) for n in names)
    vgg = build_model("vgg11", num_classes=10, input_shape=(3, 32, 32))
    names = prunable_names(vgg)
    masks = {n: torch.ones_like(vgg.get_parameter(n)) for n in names}
    masks[names[3]] = torch.zeros_like(masks[names[3]])  # a plain chain: one empty layer cuts all
    eff = effective_masks(vgg, masks, (3, 32, 32))
    assert all(eff[n].sum() == 0 for n in names)
