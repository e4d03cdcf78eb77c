"""Claim: one harness training epoch costs at most 1.05× a bare PyTorch loop over the same model,
data and batches.

Side by side in one process: the harness path (`pai_bench.train.train_epoch` with a 90 % sparse
mask held by `SparseState`, batches from the device-resident `DeviceLoader` with on-device crop and
flip) against a bare loop (forward, loss, zero_grad, backward, step) over the very same batches,
materialized beforehand, on a dense copy of the same model. Each epoch time is the median of
`--repeats` interleaved measurements. Data: random CIFAR-shaped uint8 images (synthetic; speed does
not depend on content).
Usage: python benchmarks/harness_overhead.py [--device cpu] [--model resnet20] [--images 2048]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from pai_bench.data import DeviceLoader
from pai_bench.masks import masks_from_scores, prunable_names
from pai_bench.models import build_model
from pai_bench.sparse import SparseState
from pai_bench.train import train_epoch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (args.images,), generator=g)
    mean, std = (0.49, 0.48, 0.45), (0.2, 0.2, 0.2)
    loader = DeviceLoader(x, y, batch_size=args.batch_size, mean=mean, std=std, shuffle=True,
                          augment=True, seed=0, device=device)

    torch.manual_seed(0)
    harness_model = build_model(args.model, num_classes=10, input_shape=(3, 32, 32)).to(device)
    bare_model = copy.deepcopy(harness_model)
    names = prunable_names(harness_model)
    scores = {n: torch.rand(harness_model.get_parameter(n).shape, generator=g).to(device)
              for n in names}
    sparse = SparseState(harness_model, masks_from_scores(scores, 0.9))
    harness_opt = torch.optim.SGD(harness_model.parameters(), lr=0.01, momentum=0.9,
                                  weight_decay=5e-4)
    bare_opt = torch.optim.SGD(bare_model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    sparse.prune(harness_opt)

    def harness_epoch(epoch: int) -> None:
        loader.set_epoch(epoch)
        train_epoch(harness_model, loader, harness_opt, sparse=sparse, device=device)

    def bare_epoch(batches: list) -> None:
        bare_model.train()
        for xb, yb in batches:
            loss = F.cross_entropy(bare_model(xb), yb)
            bare_opt.zero_grad(set_to_none=True)
            loss.backward()
            bare_opt.step()

    harness_epoch(0)  # warm-up
    t_harness, t_bare = [], []
    for r in range(1, args.repeats + 1):
        loader.set_epoch(r)
        batches = list(loader)  # the same batches the harness sees in epoch r
        sync(device)
        start = time.perf_counter()
        bare_epoch(batches)
        sync(device)
        t_bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        harness_epoch(r)
        sync(device)
        t_harness.append(time.perf_counter() - start)
    h, b = statistics.median(t_harness), statistics.median(t_bare)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"{args.model}, {args.images} synthetic CIFAR-shaped images, batch {args.batch_size}, "
          f"median of {args.repeats}")
    print(f"bare PyTorch loop epoch:   {b:.3f} s")
    print(f"harness epoch (sparse):    {h:.3f} s")
    print(f"ratio harness / bare:      {h / b:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
