"""A lock held while a process first opens a SQLite store (MLflow's or Optuna's).

When two processes create a new SQLite store at the same moment, MLflow's and Optuna's table
set-up (alembic migrations) can break it. Opening it under a file lock, keyed by the store's
absolute path and kept in the temporary folder, serializes the set-up; other URLs need no lock.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


@contextmanager
def first_open_lock(url: str) -> Iterator[None]:
    """Hold the lock of the SQLite store at `url` (nothing for other URLs)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    store = Path(url.removeprefix("sqlite:///").split("?")[0]).absolute()
    digest = hashlib.sha256(str(store).encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir()) / f"pai-bench-{digest}.lock", timeout=600):
        yield
