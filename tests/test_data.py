"""Tests for pai_bench.data: CIFAR read through torchvision from files written in CIFAR's own
pickle format, the digits and synthetic sets, the stratified split and the device loader."""

from __future__ import annotations

import pickle
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from pai_bench.data import DATASETS, DeviceLoader, ImageData, load_dataset, stratified_split
from pai_bench.data.catalog import CIFAR_MEAN, CIFAR_STD
from pai_bench.data.loader import epoch_generator, random_crop, random_flip
from pai_bench.errors import ConfigError, DataError

# ------------------------------------------------------------------------------ CIFAR fixtures


def _dump(path: Path, obj: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar10(root: Path, per_batch: int = 20, n_test: int = 20) -> np.ndarray:
    """Five training batches and a test batch in cifar-10-batches-py; returns the train images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5 * per_batch, 3072), dtype=np.uint8)
    labels = [i % 10 for i in range(5 * per_batch)]
    for b in range(5):
        part = slice(b * per_batch, (b + 1) * per_batch)
        _dump(folder / f"data_batch_{b + 1}", {"data": images[part], "labels": labels[part]})
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    _dump(folder / "test_batch", {"data": test, "labels": [i % 10 for i in range(n_test)]})
    _dump(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return images.reshape(-1, 3, 32, 32)


def write_cifar100(root: Path, n_train: int = 500, n_test: int = 100) -> np.ndarray:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n_train, 3072), dtype=np.uint8)
    fine = [i % 100 for i in range(n_train)]
    _dump(folder / "train", {"data": images, "fine_labels": fine, "coarse_labels": fine})
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    fine_test = [i % 100 for i in range(n_test)]
    _dump(folder / "test", {"data": test, "fine_labels": fine_test, "coarse_labels": fine_test})
    _dump(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    return images.reshape(-1, 3, 32, 32)


def test_cifar10_from_files(tmp_path: Path) -> None:
    images = write_cifar10(tmp_path)
    data = load_dataset("cifar10", root=tmp_path, checksum=False, download=False)
    assert data.name == "cifar10" and data.num_classes == 10 and not data.synthetic
    assert data.train_x.shape == (80, 3, 32, 32) and data.val_x.shape == (20, 3, 32, 32)
    assert data.test_x.shape == (20, 3, 32, 32)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert data.input_shape == (3, 32, 32)
    assert torch.bincount(data.val_y, minlength=10).tolist() == [2] * 10
    assert torch.bincount(data.train_y, minlength=10).tolist() == [8] * 10
    keep, held = stratified_split(np.arange(100) % 10, 0.2, 42)
    assert torch.equal(data.train_x, torch.from_numpy(images[keep]))  # CIFAR's channel-major rows
    assert torch.equal(data.val_x, torch.from_numpy(images[held]))
    assert data.mean == CIFAR_MEAN and data.std == CIFAR_STD and data.augment


def test_cifar100_from_files(tmp_path: Path) -> None:
    images = write_cifar100(tmp_path)
    data = load_dataset("cifar100", root=tmp_path, checksum=False, download=False)
    assert data.num_classes == 100
    assert len(data.train_y) == 400 and len(data.val_y) == 100 and len(data.test_y) == 100
    assert torch.bincount(data.val_y, minlength=100).tolist() == [1] * 100
    keep, _ = stratified_split(np.arange(500) % 100, 0.2, 42)
    assert torch.equal(data.train_x, torch.from_numpy(images[keep]))
    assert data.mean == CIFAR_MEAN and data.std == CIFAR_STD


def test_cifar_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path)
    monkeypatch.setenv("PAI_BENCH_DATA", str(tmp_path))
    data = load_dataset("cifar10", checksum=False, download=False, val_fraction=0.5)
    assert len(data.train_y) == len(data.val_y) == 50


def test_cifar_checksum_mismatch_is_one_line(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message and "md5" in message and "checksum=False" in message


def test_missing_cifar_without_download(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", root=tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert "cifar-10-python.tar.gz" in message


def test_failed_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    timeouts = []

    def offline(*args: object, **kwargs: object) -> None:
        timeouts.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("no network\nat all")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    before = socket.getdefaulttimeout()
    with pytest.raises(DataError) as info:
        load_dataset("cifar100", root=tmp_path)
    message = str(info.value)
    assert "\n" not in message and "could not be downloaded" in message and "URLError" in message
    assert str(tmp_path / "cifar-100-python") in message
    assert timeouts and timeouts[0] is not None  # the attempt ran under a socket timeout
    assert socket.getdefaulttimeout() == before


def test_unknown_option_names_dataset_and_valid_options() -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar10", val_frac=0.1)
    message = str(info.value)
    assert "val_frac" in message and "cifar10" in message and "val_fraction" in message
    assert "\n" not in message


def test_builtin_datasets_registered() -> None:
    assert {"cifar10", "cifar100", "digits", "synthetic"} <= set(DATASETS.names())


# ------------------------------------------------------------------------------ digits, synthetic


@pytest.mark.parametrize(("size", "channels"), [(8, 1), (8, 3), (32, 1), (32, 3)])
def test_digits_shapes(size: int, channels: int) -> None:
    data = load_dataset("digits", size=size, channels=channels)
    assert data.input_shape == (channels, size, size)
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 1797
    assert len(data.test_y) == pytest.approx(0.2 * 1797, abs=10)
    assert data.train_x.dtype == torch.uint8 and int(data.train_x.max()) == 255
    assert not data.augment and not data.synthetic and data.num_classes == 10
    train = data.train_x.double() / 255
    assert data.mean == pytest.approx(train.mean(dim=(0, 2, 3)).tolist())
    assert data.std == pytest.approx(train.std(dim=(0, 2, 3), unbiased=False).tolist())


def test_digits_is_deterministic_and_seeded() -> None:
    a, b = load_dataset("digits", size=8), load_dataset("digits", size=8)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    c = load_dataset("digits", size=8, split_seed=1)
    assert not torch.equal(a.train_x, c.train_x)


@pytest.mark.parametrize("options", [{"size": 4}, {"channels": 2}, {"size": "32"}])
def test_digits_bad_options(options: dict) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset("digits", **options)
    assert "\n" not in str(info.value)


def test_synthetic_says_so_and_is_learnable() -> None:
    options = dict(n_train=200, n_test=100, classes=4, size=16, channels=1)
    data = load_dataset("synthetic", **options)
    assert "synthetic" in data.name and data.synthetic and "synthetic" in data.description
    assert data.train_x.shape == (200, 1, 16, 16) and data.test_x.shape == (100, 1, 16, 16)
    assert torch.equal(data.train_x, load_dataset("synthetic", **options).train_x)
    assert not torch.equal(data.train_x, load_dataset("synthetic", **options, seed=1).train_x)
    # nearest class mean separates the classes: the set is learnable
    x, xt = data.train_x.flatten(1).float(), data.test_x.flatten(1).float()
    means = torch.stack([x[data.train_y == k].mean(0) for k in range(4)])
    accuracy = (torch.cdist(xt, means).argmin(1) == data.test_y).float().mean()
    assert accuracy > 0.9


def test_image_data_validates() -> None:
    x, y = torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64)
    fields = dict(
        name="toy", train_x=x, train_y=y, val_x=x, val_y=y, test_x=x, test_y=y, num_classes=2,
        mean=(0.5,), std=(0.2,), augment=False, synthetic=False, description="toy",
    )  # fmt: skip
    assert ImageData(**fields).input_shape == (1, 8, 8)
    with pytest.raises(DataError):
        ImageData(**{**fields, "train_x": x.float()})
    with pytest.raises(DataError):
        ImageData(**{**fields, "mean": (0.5, 0.5)})
    with pytest.raises(DataError):
        ImageData(**{**fields, "synthetic": True})  # a synthetic set must say so in its name


# ------------------------------------------------------------------------------ split


def test_stratified_split() -> None:
    labels = np.repeat(np.arange(5), [10, 20, 7, 3, 40])
    labels = np.random.default_rng(0).permutation(labels)
    keep, held = stratified_split(labels, 0.25, seed=3)
    assert np.all(np.diff(keep) > 0) and np.all(np.diff(held) > 0)
    assert np.array_equal(np.sort(np.concatenate([keep, held])), np.arange(len(labels)))
    for cls, count in zip(range(5), [10, 20, 7, 3, 40], strict=True):
        assert (labels[held] == cls).sum() == round(0.25 * count)
    again = stratified_split(labels, 0.25, seed=3)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(stratified_split(labels, 0.25, seed=4)[1], held)
    with pytest.raises(ConfigError):
        stratified_split(labels, 1.0, seed=0)


# ------------------------------------------------------------------------------ loader


def _toy(n: int = 10, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return x, torch.arange(n) % 3


MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def test_loader_length_and_normalization() -> None:
    x, y = _toy(10)
    loader = DeviceLoader(x, y, batch_size=4, mean=MEAN, std=STD)
    assert len(loader) == 3
    assert len(DeviceLoader(x, y, batch_size=4, mean=MEAN, std=STD, drop_last=True)) == 2
    batches = list(loader)
    assert [len(t) for _, t in batches] == [4, 4, 2]
    inputs = torch.cat([b for b, _ in batches])
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    manual = (x.double() / 255 - mean) / std
    assert inputs.dtype == torch.float32
    torch.testing.assert_close(inputs.double(), manual, rtol=1e-5, atol=1e-5)
    assert torch.equal(torch.cat([t for _, t in batches]), y)


def test_loader_shuffle_is_seeded_per_epoch() -> None:
    x, y = _toy(50)
    y = torch.arange(50)
    options = dict(batch_size=8, mean=MEAN, std=STD, shuffle=True)
    a, b = DeviceLoader(x, y, **options, seed=7), DeviceLoader(x, y, **options, seed=7)
    first = torch.cat([t for _, t in a])
    assert sorted(first.tolist()) == list(range(50))
    assert torch.equal(first, torch.cat([t for _, t in b]))
    second = torch.cat([t for _, t in a])
    assert not torch.equal(first, second)
    b.set_epoch(1)
    assert torch.equal(second, torch.cat([t for _, t in b]))
    other = DeviceLoader(x, y, **options, seed=8)
    assert not torch.equal(first, torch.cat([t for _, t in other]))


def test_loader_augmentation_is_reproducible() -> None:
    x, y = _toy(16)
    options = dict(batch_size=5, mean=MEAN, std=STD, shuffle=True, augment=True, seed=1)
    a, b = DeviceLoader(x, y, **options), DeviceLoader(x, y, **options)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.shape[1:] == (3, 32, 32) and xa.dtype == torch.float32
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    plain = DeviceLoader(x, y, batch_size=16, mean=MEAN, std=STD)
    augmented = DeviceLoader(x, y, batch_size=16, mean=MEAN, std=STD, augment=True, seed=0)
    assert not torch.equal(next(iter(plain))[0], next(iter(augmented))[0])


def test_loader_seed_none_follows_torch_manual_seed() -> None:
    x, y = _toy(20)
    torch.manual_seed(5)
    a = DeviceLoader(x, y, batch_size=20, mean=MEAN, std=STD, shuffle=True)
    torch.manual_seed(5)
    b = DeviceLoader(x, y, batch_size=20, mean=MEAN, std=STD, shuffle=True)
    assert a.seed == b.seed


def test_loader_channels_last_and_bad_arguments() -> None:
    x, y = _toy(4)
    inputs, _ = next(iter(DeviceLoader(x, y, batch_size=4, mean=MEAN, std=STD, channels_last=True)))
    assert inputs.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ConfigError):
        DeviceLoader(x, y, batch_size=0, mean=MEAN, std=STD)
    with pytest.raises(ConfigError):
        DeviceLoader(x, y, batch_size=2, mean=(0.5,), std=(0.5,))
    with pytest.raises(DataError):
        DeviceLoader(x.float(), y, batch_size=2, mean=MEAN, std=STD)


def test_random_crop_returns_windows_of_the_zero_padded_image() -> None:
    n, pad = 3000, 4
    # no zeros in the images, so the padding is recognisable
    x = torch.randint(1, 256, (n, 2, 5, 6), generator=torch.Generator().manual_seed(0))
    x = x.to(torch.uint8)
    out = random_crop(x, pad, epoch_generator(0, 0))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = torch.nn.functional.pad(x, (pad,) * 4)
    matches = torch.stack(
        [
            (padded[:, :, dy : dy + 5, dx : dx + 6] == out).flatten(1).all(1)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
        ]
    )  # (81, n): which offsets reproduce each output
    assert matches.any(0).all()  # every output is a window of its padded input
    assert matches.any(1).all()  # and every one of the 81 offsets occurs
    assert torch.equal(random_crop(x, pad, epoch_generator(0, 0)), out)


def test_random_flip_mirrors_about_half() -> None:
    x = torch.randint(0, 256, (4000, 1, 3, 5), dtype=torch.uint8)
    out = random_flip(x, epoch_generator(0, 0))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all()
    assert 0.45 < (mirrored & ~same).float().mean() < 0.55
