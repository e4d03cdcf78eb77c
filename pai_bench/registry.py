"""A generic, loud registry for plug-ins (methods, models, data sets).

`register` is a decorator that refuses a duplicate name; `get` misses with the close matches and the
full list; `names` takes shell-style wildcards. Plug-ins from other distributions are found lazily
through an entry-point group: a broken one costs one warning, never a crash.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from pai_bench.errors import PluginError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → plug-in, filled by the `register` decorator, built-in modules and entry points.

    Args:
        kind: what is registered, for messages ("method", "model", "dataset").
        group: the entry-point group searched for outside plug-ins.
        builtin: a module imported on first use that registers the built-in plug-ins.
    """

    def __init__(self, kind: str, *, group: str, builtin: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._builtin = builtin
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering the object under `name`; a duplicate name is an error."""

        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if not name or not isinstance(name, str):
            raise PluginError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        current = self._items.get(name)
        if current is not None and current is not obj:
            raise PluginError(
                f"{self.kind} '{name}' is already registered by {_origin(current)}; "
                f"choose another name for {_origin(obj)}"
            )
        self._items[name] = obj

    def get(self, name: str) -> T:
        """The plug-in called `name`; a miss names the close matches and lists every name."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self._miss_message(name)) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style wildcard such as ``"resnet*"``."""
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def _miss_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), list(self._items), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        known = ", ".join(sorted(self._items)) or "none"
        return f"unknown {self.kind} {name!r}: {hint}known {self.kind}s: {known}"

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._builtin:
            importlib.import_module(self._builtin)
        for ep in entry_points(group=self.group):
            if ep.name in self._items:
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # a broken outside plug-in must not break the harness
                warnings.warn(
                    f"skipping {self.kind} plug-in '{ep.name}' ({ep.value}): "
                    f"{type(exc).__name__}: {exc}",
                    stacklevel=3,
                )
                continue
            if ep.name not in self._items:  # loading may have registered it by decorator
                self.add(ep.name, obj)


def _origin(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
