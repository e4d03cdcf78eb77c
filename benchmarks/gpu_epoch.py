"""Claim: the device-resident pipeline (uint8 data on the GPU, crop and flip on the GPU, bf16
autocast, channels_last, no DataLoader workers) trains a CIFAR epoch faster than the classic
torchvision DataLoader pipeline that the reference codes use, at no cost in memory that matters.

For each model (ResNet18 and VGG19 by default) and each pipeline, on `--images` CIFAR-shaped
synthetic uint8 images (speed does not depend on content; 40,000 = the protocol's training split),
batch 512, SGD with momentum: the time of one epoch after a warm-up epoch, images/s, and the peak
GPU memory. Both pipelines run the same training step (`pai_bench.train.train_epoch`); only the
data path differs. On CUDA it appends its figures, with date, GPU and versions, to
benchmarks/RESULTS.md (`--no-record` to skip). It runs on the CPU too (`--device cpu` with small
`--images`), as a smoke test.
Usage: python benchmarks/gpu_epoch.py [--device cuda] [--models resnet18 vgg19] [--images 40000]
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from pai_bench.data import DeviceLoader
from pai_bench.models import build_model
from pai_bench.spec import Training
from pai_bench.train import make_optimizer, train_epoch

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
RESULTS = Path(__file__).with_name("RESULTS.md")


class PILImages(Dataset):
    """What torchvision's CIFAR10 does per item: a PIL image through the transforms."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
            transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


class ToDevice:
    def __init__(self, loader: DataLoader, device: torch.device, channels_last: bool) -> None:
        self.loader, self.device, self.channels_last = loader, device, channels_last

    def __iter__(self):
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for x, y in self.loader:
            yield (x.to(self.device, non_blocking=True, memory_format=fmt),
                   y.to(self.device, non_blocking=True))


def epoch_seconds(model_name: str, batches, device: torch.device) -> tuple[float, float]:
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = build_model(model_name, num_classes=10, input_shape=(3, 32, 32)).to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    optimizer = make_optimizer(model, Training(lr=0.01))
    train_epoch(model, batches, optimizer, device=device)  # warm-up: autotuning, allocator
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_epoch(model, batches, optimizer, device=device)
    if cuda:
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", nargs="+", default=["resnet18", "vgg19"])
    parser.add_argument("--images", type=int, default=40_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (baseline)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, args.images)

    device_batches = DeviceLoader(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(),
                                  torch.from_numpy(y), batch_size=args.batch_size, mean=MEAN,
                                  std=STD, shuffle=True, augment=True, seed=0, device=device,
                                  channels_last=cuda)
    torchvision_batches = ToDevice(
        DataLoader(PILImages(x, y), batch_size=args.batch_size, shuffle=True,
                   num_workers=args.workers, pin_memory=cuda, persistent_workers=args.workers > 0),
        device, cuda)
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    header = (f"{datetime.date.today()}, {name}, torch {torch.__version__}, "
              f"{args.images} synthetic CIFAR-shaped images, batch {args.batch_size}, "
              f"bf16 autocast + channels_last: {cuda}, DataLoader workers {args.workers}")
    rows = []
    for model_name in args.models:
        for pipeline, batches in [("device (pai-bench)", device_batches),
                                  ("torchvision DataLoader", torchvision_batches)]:
            seconds, peak = epoch_seconds(model_name, batches, device)
            rows.append(f"| {model_name} | {pipeline} | {seconds:.2f} | "
                        f"{args.images / seconds:,.0f} | {peak:,.0f} |")
            print(rows[-1], flush=True)
    table = "\n".join(["| model | pipeline | epoch s | images/s | peak MiB |",
                       "|---|---|---|---|---|", *rows])
    print(header)
    if cuda and not args.no_record:
        with RESULTS.open("a") as f:
            f.write(f"\n### GPU epoch: {header}\n\n{table}\n")
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
