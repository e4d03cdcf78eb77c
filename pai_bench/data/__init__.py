"""Data set registry and `load_dataset`.

A data set builder is registered under a name and called as ``builder(*, root: Path, **options)``;
it returns an `ImageData`. Built-ins (``pai_bench.data.catalog``): cifar10, cifar100, digits,
synthetic. Outside packages add their own through the ``pai_bench.datasets`` entry-point group.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pai_bench.data.base import ImageData
from pai_bench.data.loader import DeviceLoader
from pai_bench.data.split import stratified_split
from pai_bench.errors import ConfigError, PluginError
from pai_bench.registry import Registry

DatasetBuilder = Callable[..., ImageData]

DATASETS: Registry[DatasetBuilder] = Registry(
    "dataset", group="pai_bench.datasets", builtin="pai_bench.data.catalog"
)
register_dataset = DATASETS.register

DATA_ENV = "PAI_BENCH_DATA"

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DeviceLoader",
    "ImageData",
    "dataset_options",
    "default_root",
    "load_dataset",
    "register_dataset",
    "stratified_split",
]


def default_root() -> Path:
    """The data directory: ``$PAI_BENCH_DATA`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_ENV) or "data")


def dataset_options(name: str) -> dict[str, Any] | None:
    """Options of data set `name` with their defaults; None when its builder takes ``**kwargs``."""
    params = inspect.signature(DATASETS.get(name)).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {
        p.name: p.default
        for p in params.values()
        if p.name != "root" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def load_dataset(name: str, *, root: str | Path | None = None, **options: Any) -> ImageData:
    """Build data set `name` from files under `root` (default: `default_root`).

    An option the data set does not take is a `ConfigError` naming it and the valid ones.
    """
    valid = dataset_options(name)
    if valid is not None:
        unknown = sorted(set(options) - set(valid))
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(valid), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"dataset {name!r} has no option {unknown[0]!r}{hint}; "
                f"valid options: {', '.join(valid) or 'none'}"
            )
    data_root = Path(root).expanduser() if root is not None else default_root()
    data = DATASETS.get(name)(root=data_root.absolute(), **options)
    if not isinstance(data, ImageData):
        raise PluginError(
            f"dataset builder {name!r} returned {type(data).__name__}, expected ImageData"
        )
    return data
