"""Checks several test files share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pai_bench.errors import ConfigError


@pytest.fixture
def one_line_error() -> Callable[..., None]:
    """`check(load, path, what, fix)`: `load(path)` fails with a one-line `ConfigError` that
    starts with the file, names `what` and gives the fix after a dash."""

    def check(load: Callable[[Path], Any], path: Path, what: str, fix: str) -> None:
        with pytest.raises(ConfigError) as info:
            load(path)
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"{path}: ") and what in message and fix in message
        assert " — " in message

    return check
