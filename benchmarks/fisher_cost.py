"""Claim: FTS scoring costs at most 1.5× one batched forward + backward over the same samples.

Measures, side by side in one process, on ResNet18 (CIFAR, 10 classes) with 256 samples of random
CIFAR-shaped inputs (cost does not depend on pixel values) in batches of 128, model in eval mode:
  - base: one batched forward + backward (gradients of the prunable weights), the floor
  - ours: pai_bench.compute_scores("fts", ...) (mean gradient + per-sample Fisher, one pass)
  - loop: the reference code's way, a batch-size-1 forward + backward per sample, accumulating
    g and g²
and prints ours ÷ base and loop ÷ ours, each time the median of `--repeats` runs (the loop: one).
Usage: python benchmarks/fisher_cost.py [--device cpu] [--samples 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import pai_bench
from pai_bench.masks import prunable_names
from pai_bench.models import build_model


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-loop", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.model, num_classes=10, input_shape=(3, 32, 32)).to(device).eval()
    x = torch.randn(args.samples, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.samples,), device=device)
    batches = [(x[i : i + args.batch_size], y[i : i + args.batch_size])
               for i in range(0, args.samples, args.batch_size)]
    params = [model.get_parameter(n) for n in prunable_names(model)]

    def base() -> None:
        for xb, yb in batches:
            torch.autograd.grad(F.cross_entropy(model(xb), yb), params)

    def ours() -> None:
        pai_bench.compute_scores("fts", model, batches)

    def loop() -> None:  # what the reference code does: one sample at a time, accumulate g and g²
        g_sum = [torch.zeros_like(p) for p in params]
        f_sum = [torch.zeros_like(p) for p in params]
        for i in range(args.samples):
            grads = torch.autograd.grad(F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]), params)
            torch._foreach_add_(g_sum, grads)
            torch._foreach_addcmul_(f_sum, grads, grads)

    base(), ours()  # warm-up (allocators, kernels)
    t_base, t_ours = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        t_base.append(timed(base, device))
        t_ours.append(timed(ours, device))
    b, o = statistics.median(t_base), statistics.median(t_ours)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"{args.model}, {args.samples} samples, batch {args.batch_size}, median of "
          f"{args.repeats}")
    print(f"one batched forward+backward: {b:.3f} s")
    print(f"FTS scoring (pai-bench):      {o:.3f} s")
    print(f"ratio FTS / forward+backward: {o / b:.2f}  (target <= 1.5)")
    if not args.skip_loop:
        t_loop = timed(loop, device)
        print(f"batch-size-1 loop:            {t_loop:.3f} s")
        print(f"ratio loop / FTS:             {t_loop / o:.2f}")


if __name__ == "__main__":
    main()
