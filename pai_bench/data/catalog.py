"""The built-in data sets: cifar10, cifar100, digits and synthetic (``DATASETS``' builtin module).

- cifar10 / cifar100 (Krizhevsky 2009), read by torchvision's own CIFAR classes. As in the FTS
  paper's code (arXiv 2502.11450): the 50k training images split 40k/10k stratified with seed 42,
  the official 10k test set, normalization mean (0.4914, 0.4822, 0.4465) and std
  (0.2023, 0.1994, 0.2010) for both, training augmentation random crop 32 + padding 4 + flip.
- digits: scikit-learn's ``load_digits`` (UCI optical handwritten digits, Alpaydin & Kaynak 1998),
  1797 real 8×8 images shipped with scikit-learn, so the quickstart and tests need no download.
- synthetic: class templates plus Gaussian noise, for smoke tests only; marked synthetic everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torch import Tensor
from torchvision.datasets import CIFAR10, CIFAR100
from torchvision.datasets.utils import check_integrity

from pai_bench.data import register_dataset
from pai_bench.data.base import ImageData
from pai_bench.data.split import stratified_split
from pai_bench.errors import ConfigError, DataError

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "cifar10", "cifar100", "digits", "synthetic"]

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
DOWNLOAD_TIMEOUT_S = 20.0  # per socket operation: an offline attempt fails in seconds, not minutes


# --------------------------------------------------------------------------------------- CIFAR


class _ChecksumOptional:
    """Mixin for torchvision's CIFAR classes: with ``checksum=False`` the md5 checks become
    file-exists checks, so that copies re-encoded elsewhere (or test fixtures) load."""

    base_folder: str
    train_list: list[list[str]]
    test_list: list[list[str]]
    meta: dict[str, str]
    root: str

    def __init__(self, root: Path, *, train: bool, download: bool, checksum: bool) -> None:
        self.checksum = checksum
        super().__init__(root, train=train, download=download)  # type: ignore[call-arg]

    def _check_integrity(self) -> bool:
        if self.checksum:
            return super()._check_integrity()  # type: ignore[misc]
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        if self.checksum:
            return super()._load_meta()  # type: ignore[misc]
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


class _CIFAR10(_ChecksumOptional, CIFAR10):
    pass


class _CIFAR100(_ChecksumOptional, CIFAR100):
    pass


_CifarClass = type[_CIFAR10] | type[_CIFAR100]


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    # torchvision's urlopen calls pass no timeout; the process-wide default is the only handle.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _cifar_failure(
    title: str, cls: _CifarClass, root: Path, download: bool, checksum: bool, exc: Exception
) -> DataError:
    folder = root / cls.base_folder
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    missing = [name for name, _ in files if not (folder / name).is_file()]
    fix = (
        f"download {cls.url}, extract it into {root}, "
        f"or point --data-dir (or PAI_BENCH_DATA) at the folder that holds {cls.base_folder}"
    )
    if missing and download:
        message = f"{title} not found in {folder} and could not be downloaded ({_one_line(exc)})"
    elif missing:
        message = f"{title} not found in {folder} (missing {missing[0]}, download=False)"
    elif checksum and not all(check_integrity(str(folder / n), md5) for n, md5 in files):
        return DataError(
            f"{title} in {folder} failed its md5 check: delete {folder} and download it again "
            f"({cls.url}), or pass checksum=False to use these files anyway"
        )
    else:
        message = f"{title} in {folder} could not be read ({_one_line(exc)})"
    return DataError(f"{message}; {fix}")


def _download_lock(root: Path) -> FileLock:
    """A lock per data folder, kept in the temporary folder (the data folder may be read-only)."""
    digest = hashlib.sha256(str(Path(root).absolute()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"pai-bench-data-{digest}.lock", timeout=3600)


def _load_cifar(
    name: str,
    title: str,
    cls: _CifarClass,
    *,
    root: Path,
    download: bool,
    checksum: bool,
    val_fraction: float,
    split_seed: int,
) -> ImageData:
    try:
        # one download per folder: --workers and Ray processes on a node share the root
        with _download_lock(root), _socket_timeout(DOWNLOAD_TIMEOUT_S):
            train = cls(root, train=True, download=download, checksum=checksum)
        test = cls(root, train=False, download=False, checksum=checksum)
    except Exception as exc:  # network, archive, md5 and pickle failures: all one data error
        raise _cifar_failure(title, cls, root, download, checksum, exc) from exc

    def tensors(ds: CIFAR10) -> tuple[Tensor, Tensor]:
        images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # NHWC→NCHW
        return images, torch.as_tensor(ds.targets, dtype=torch.int64)

    x, y = tensors(train)
    test_x, test_y = tensors(test)
    keep, held = stratified_split(y.numpy(), val_fraction, split_seed)
    folder = root / cls.base_folder
    return ImageData(
        name=name,
        train_x=x[keep],
        train_y=y[keep],
        val_x=x[held],
        val_y=y[held],
        test_x=test_x,
        test_y=test_y,
        num_classes=len(train.classes),
        mean=CIFAR_MEAN,
        std=CIFAR_STD,
        augment=True,
        synthetic=False,
        description=(
            f"{title} (Krizhevsky 2009) from {folder}: {len(keep)} train / {len(held)} val "
            f"(stratified, fraction {val_fraction}, seed {split_seed}) / {len(test_y)} test"
        ),
    )


@register_dataset("cifar10")
def cifar10(
    *,
    root: Path,
    download: bool = True,
    checksum: bool = True,
    val_fraction: float = 0.2,
    split_seed: int = 42,
) -> ImageData:
    """CIFAR-10 under ``root/cifar-10-batches-py``, downloaded there if missing and allowed."""
    return _load_cifar(
        "cifar10",
        "CIFAR-10",
        _CIFAR10,
        root=root,
        download=_flag("cifar10", "download", download),
        checksum=_flag("cifar10", "checksum", checksum),
        val_fraction=val_fraction,
        split_seed=split_seed,
    )


@register_dataset("cifar100")
def cifar100(
    *,
    root: Path,
    download: bool = True,
    checksum: bool = True,
    val_fraction: float = 0.2,
    split_seed: int = 42,
) -> ImageData:
    """CIFAR-100 under ``root/cifar-100-python``, downloaded there if missing and allowed."""
    return _load_cifar(
        "cifar100",
        "CIFAR-100",
        _CIFAR100,
        root=root,
        download=_flag("cifar100", "download", download),
        checksum=_flag("cifar100", "checksum", checksum),
        val_fraction=val_fraction,
        split_seed=split_seed,
    )


# ----------------------------------------------------------------------------- digits, synthetic


def _flag(dataset: str, option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{dataset}: option {option} must be true or false, got {value!r}")
    return value


def _integer(dataset: str, option: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{dataset}: option {option} must be an integer ≥ {minimum}, got {value!r}"
        )
    return value


def _channel_stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    scaled = x.double() / 255
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3), unbiased=False).clamp_min(1e-6)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


@register_dataset("digits")
def digits(*, root: Path, size: int = 32, channels: int = 3, split_seed: int = 42) -> ImageData:
    """scikit-learn's handwritten digits: 1797 real 8×8 images, 10 classes, no download.

    Pixel values 0..16 are scaled to 0..255 after an optional bilinear resize to `size`×`size`
    (size 32 fits the CIFAR models); `channels` 3 replicates the grey channel. Split: 20% test
    (stratified, `split_seed`), then 20% of the rest as validation. mean and std come from the
    training split. No augmentation: flipped or shifted digits change meaning at 8×8.
    """
    from sklearn.datasets import load_digits  # imported here: only this data set needs it

    size = _integer("digits", "size", size, 8)
    channels = _integer("digits", "channels", channels, 1)
    if channels not in (1, 3):
        raise ConfigError(f"digits: option channels must be 1 or 3, got {channels}")
    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float()[:, None]  # N×1×8×8, values 0..16
    if size != 8:
        images = torch.nn.functional.interpolate(
            images, size=(size, size), mode="bilinear", align_corners=False
        )
    x = (images * (255 / 16)).round().clamp(0, 255).to(torch.uint8)
    x = x.expand(-1, channels, -1, -1).contiguous()
    y = torch.from_numpy(bunch.target).to(torch.int64)
    rest, test = stratified_split(bunch.target, 0.2, split_seed)
    train_in_rest, val_in_rest = stratified_split(bunch.target[rest], 0.2, split_seed)
    train, val = rest[train_in_rest], rest[val_in_rest]
    mean, std = _channel_stats(x[train])
    resized = "native 8×8" if size == 8 else f"resized bilinearly from 8×8 to {size}×{size}"
    return ImageData(
        name="digits",
        train_x=x[train],
        train_y=y[train],
        val_x=x[val],
        val_y=y[val],
        test_x=x[test],
        test_y=y[test],
        num_classes=10,
        mean=mean,
        std=std,
        augment=False,
        synthetic=False,
        description=(
            f"scikit-learn load_digits (UCI handwritten digits, real images), {resized}, "
            f"{channels} channel(s): {len(train)} train / {len(val)} val / {len(test)} test "
            f"(stratified, seed {split_seed})"
        ),
    )


@register_dataset("synthetic")
def synthetic(
    *,
    root: Path,
    n_train: int = 512,
    n_val: int = 128,
    n_test: int = 128,
    size: int = 32,
    channels: int = 3,
    classes: int = 10,
    seed: int = 0,
) -> ImageData:
    """Synthetic images: a fixed smooth random template per class plus Gaussian pixel noise.

    The templates are low-frequency (a 4×4 Gaussian field upsampled) with a per-class colour
    offset, so both MLPs and globally pooled CNNs can learn the classes. For smoke tests only.
    """
    n_train = _integer("synthetic", "n_train", n_train, 1)
    n_val = _integer("synthetic", "n_val", n_val, 0)
    n_test = _integer("synthetic", "n_test", n_test, 0)
    size = _integer("synthetic", "size", size, 1)
    channels = _integer("synthetic", "channels", channels, 1)
    classes = _integer("synthetic", "classes", classes, 2)
    generator = torch.Generator().manual_seed(_integer("synthetic", "seed", seed, 0))
    coarse = torch.randn(classes, channels, 4, 4, generator=generator)
    templates = torch.nn.functional.interpolate(
        coarse, size=(size, size), mode="bilinear", align_corners=False
    ) + 0.5 * torch.randn(classes, channels, 1, 1, generator=generator)

    def draw(n: int) -> tuple[Tensor, Tensor]:
        y = (torch.arange(n) % classes)[torch.randperm(n, generator=generator)]
        noise = torch.randn(n, channels, size, size, generator=generator)
        x = 128 + 40 * (templates[y] + noise)
        return x.round().clamp(0, 255).to(torch.uint8), y

    train_x, train_y = draw(n_train)
    val_x, val_y = draw(n_val)
    test_x, test_y = draw(n_test)
    mean, std = _channel_stats(train_x)
    return ImageData(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        val_x=val_x,
        val_y=val_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=classes,
        mean=mean,
        std=std,
        augment=False,
        synthetic=True,
        description=(
            f"synthetic: {classes} classes of random smooth templates + Gaussian noise, "
            f"{size}×{size}×{channels}, seed {seed} (not real data)"
        ),
    )
