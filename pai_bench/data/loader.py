"""A data loader that keeps the whole data set on the device and augments whole batches there.

After Keller Jordan's airbench (github.com/KellerJordan/cifar10-airbench): CIFAR fits in GPU memory
as uint8, so one gather per batch replaces worker processes and per-image PIL transforms. The
augmentation is that of torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``:
zero padding applied to the raw pixels (before normalization), a uniform offset in each direction,
a flip with probability 0.5. All randomness comes from one `torch.Generator` on the device, seeded
by (seed, epoch), so a run is reproducible on a given device and every epoch differs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from pai_bench.errors import ConfigError, DataError

__all__ = ["DeviceLoader", "epoch_generator", "random_crop", "random_flip"]


def random_crop(x: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Crop every image of the N×C×H×W batch `x` to H×W at a random offset of its zero-padded copy.

    Offsets are uniform in 0..2·padding per direction and independent per image, as
    ``torchvision.transforms.RandomCrop(size, padding=padding)``. Two gathers, no Python loop.
    """
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(
        0, 2 * padding + 1, (2, n), generator=generator, device=generator.device
    ).to(x.device)
    rows = offsets[0].view(n, 1, 1, 1) + torch.arange(h, device=x.device).view(1, 1, h, 1)
    padded = padded.gather(2, rows.expand(n, c, h, w + 2 * padding))
    cols = offsets[1].view(n, 1, 1, 1) + torch.arange(w, device=x.device).view(1, 1, 1, w)
    return padded.gather(3, cols.expand(n, c, h, w))


def random_flip(x: Tensor, generator: torch.Generator, p: float = 0.5) -> Tensor:
    """Mirror each image of the N×C×H×W batch `x` left-right with probability `p`."""
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device) < p
    return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)


def epoch_generator(seed: int, epoch: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator on `device` seeded from (seed, epoch) through numpy's SeedSequence.

    Mixing the pair (rather than adding) keeps seed 0 at epoch 1 apart from seed 1 at epoch 0.
    """
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, dtype=np.uint32)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state[0]) << 32 | int(state[1]))
    return generator


class DeviceLoader:
    """Iterates (inputs, targets) batches of `x`, `y` held on `device`.

    Inputs are float32 ``(x / 255 - mean) / std`` (channels-last if asked), targets int64. With
    `shuffle` each pass draws a new permutation; with `augment` each training batch gets a random
    crop (padding 4, zero fill) and horizontal flip. Both come from a generator seeded by `seed` and
    the epoch counter, which advances at every ``iter()`` (or is set with `set_epoch`). `seed=None`
    draws a seed from torch's global generator, so ``torch.manual_seed`` still fixes the run.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        batch_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        shuffle: bool = False,
        augment: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        padding: int = 4,
    ) -> None:
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise DataError(
                f"DeviceLoader needs uint8 images N×C×H×W, got {x.dtype} {tuple(x.shape)}"
            )
        if y.dim() != 1 or len(y) != len(x):
            raise DataError(f"DeviceLoader needs {len(x)} labels, got shape {tuple(y.shape)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        channels = x.shape[1]
        if len(mean) != channels or len(std) != channels:
            raise ConfigError(f"mean and std need {channels} values, got {mean} and {std}")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device, torch.int64)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        # (x/255 − mean)/std as one multiply-add in place: x·scale + shift
        self._scale = 1 / (255 * self.std)
        self._shift = -self.mean / self.std
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        self.channels_last = channels_last
        self.padding = padding
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` draw the order and augmentation of `epoch` (e.g. on resume)."""
        self.epoch = epoch

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 images → float32 ``(x / 255 - mean) / std``."""
        out = x.float().mul_(self._scale).add_(self._shift)
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        generator = epoch_generator(self.seed, self.epoch, self.device)
        self.epoch += 1  # here, not in _batches: iter() alone starts an epoch
        return self._batches(generator)

    def _batches(self, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, generator=generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            images = self.x[idx]
            if self.augment:
                images = random_flip(random_crop(images, self.padding, generator), generator)
            yield self.normalize(images), self.y[idx]
