"""The training loop: one epoch of SGD with the mask held, and evaluation (top-1, top-5).

On CUDA: bf16 autocast and channels_last (the caller converts model and loader); on CPU plain
float32. The loss is summed on the device and read once per epoch, so the NaN guard costs no
per-step synchronization.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pai_bench.errors import PaiBenchError
from pai_bench.sparse import SparseState
from pai_bench.spec import Training


class Diverged(PaiBenchError):
    """The training loss became NaN or infinite."""


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: nn.Module, recipe: Training) -> torch.optim.Optimizer:
    params = model.parameters()
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov, weight_decay=recipe.weight_decay)
    cls = torch.optim.Adam if recipe.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Training
                   ) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch."""
    if recipe.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(recipe.milestones),
                                                    gamma=recipe.gamma)
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    sparse: SparseState | None = None,
    device: torch.device,
) -> dict[str, float]:
    """One pass over `batches`; returns mean training loss and accuracy."""
    model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    for x, y in batches:
        with autocast(device):
            out = model(x)
            loss = F.cross_entropy(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if sparse is not None:
            sparse.mask_gradients()
        optimizer.step()
        if sparse is not None:
            sparse.apply()
        loss_sum += loss.detach() * len(y)
        correct += (out.argmax(1) == y).sum()
        seen += len(y)
    mean_loss = loss_sum.item() / max(seen, 1)
    if not math.isfinite(mean_loss):
        raise Diverged(f"training loss became {mean_loss}: lower the learning rate")
    return {"train_loss": mean_loss, "train_acc": correct.item() / max(seen, 1)}


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], *, device: torch.device
             ) -> dict[str, float]:
    """Mean loss, top-1 and top-5 accuracy (top-k capped at the number of classes)."""
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    top1 = torch.zeros((), device=device, dtype=torch.int64)
    top5 = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    for x, y in batches:
        with autocast(device):
            out = model(x)
        out = out.float()
        loss_sum += F.cross_entropy(out, y, reduction="sum")
        best = out.topk(min(5, out.shape[1]), dim=1).indices
        top1 += (best[:, 0] == y).sum()
        top5 += (best == y[:, None]).any(1).sum()
        seen += len(y)
    return {"loss": loss_sum.item() / seen, "top1": top1.item() / seen, "top5": top5.item() / seen}
