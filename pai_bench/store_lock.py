"""File locks for stores that live on this machine (an SQLite file, MLflow's file store).

- `first_open_lock`: held while a process first opens a SQLite store. When two processes create
  one at the same moment, MLflow's and Optuna's table set-up (alembic migrations) can break it.
- `key_lock`: held while a process claims or finishes a run key (`pai_bench.claim`), which makes
  "check, then create" atomic for every process on the machine.

The lock files live in the temporary folder, keyed by the store's absolute path. A server store
(http://, an RDB URL) needs no lock here: `pai_bench.claim` handles it by settling instead.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


def local_store(url: str) -> Path | None:
    """The file or folder of a store on this machine, or None for a server."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///").split("?")[0]).absolute()
    if url.startswith("file://"):
        return Path(url.removeprefix("file://")).absolute()
    if "://" not in url:
        return Path(url).absolute()
    return None


@contextmanager
def store_lock(url: str, name: str) -> Iterator[None]:
    """Hold the lock `name` of the local store at `url` (nothing for a server)."""
    store = local_store(url)
    if store is None:
        yield
        return
    digest = hashlib.sha256(f"{store}\0{name}".encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"pai-bench-{digest}.lock", timeout=600):
        yield


@contextmanager
def first_open_lock(url: str) -> Iterator[None]:
    """Held while a process first opens the SQLite store at `url` (nothing for other stores)."""
    if url.startswith("sqlite:///"):
        with store_lock(url, "setup"):
            yield
    else:
        yield


def key_lock(url: str, key: str) -> Iterator[None]:
    """Held while a process claims or finishes `key` in the store at `url`."""
    return store_lock(url, f"key:{key}")
