"""Override files: tuned training options that replace a suite's, for the runs they match.

`pai-bench tune` writes one; `pai-bench run SUITE --overrides FILE` reads it::

    # written by pai-bench tune suites/quickstart.yaml --method fts ... (provenance)
    overrides:
      - match: {method: fts, model: small_cnn, dataset: digits, sparsity: 0.9, warmup_epochs: 1}
        training: {lr: 0.05, weight_decay: 0.0003}      # `spec.Training` fields
        study: quickstart/fts/small_cnn/digits/s0.9/w1  # where the values come from (optional)
        storage: sqlite:///optuna.db                    # (optional)
        best_val_acc: 0.93                              # (optional)
        trials: 12                                      # complete trials behind it (optional)

A run matches an entry when it has every axis value the entry's `match` gives (any of method,
model, dataset, sparsity, warmup_epochs; seeds and ablations all match). Its training fields are
replaced (a new `RunSpec`, so a new run key); where several entries match, later ones win.
Everything wrong with the file is one `ConfigError`: ``<file>: <field path>: <what> — <fix>``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pai_bench.errors import ConfigError
from pai_bench.spec import RunSpec, Training
from pai_bench.suite import (  # the suite's YAML dialect and message helpers, shared on purpose
    _TAKES,
    Suite,
    TrainingConfig,
    _did_you_mean,
    _one_line,
    _same,
    read_yaml_mapping,
)

__all__ = [
    "MATCH_AXES",
    "TRAINING_FIELDS",
    "Override",
    "apply_override_file",
    "check_training_value",
    "load_overrides",
    "override_specs",
    "write_overrides",
]

MATCH_AXES = ("method", "model", "dataset", "sparsity", "warmup_epochs")
TRAINING_FIELDS = tuple(f.name for f in dataclasses.fields(Training))
_INFO = {"study": str, "storage": str, "best_val_acc": float, "trials": int}  # provenance keys
_ENTRY_KEYS = ("match", "training", *_INFO)
_TAKES_MORE = {
    "optimizer": "sgd, adam or adamw",
    "schedule": "multistep, cosine or constant",
    "nesterov": "true or false",
}
_AXIS_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,), "model": (str,), "dataset": (str,), "sparsity": (int, float),
    "warmup_epochs": (int,),
}


def check_training_value(source: str, loc: str, name: str, value: Any) -> Any:
    """`value` checked as the training field `name` (the suite's bounds and types); a list of
    milestones comes back as a tuple, as `Training` holds it."""
    if name not in TRAINING_FIELDS:
        raise ConfigError(
            f"{source}: {loc}: not a training field — "
            f"{_did_you_mean(name, TRAINING_FIELDS)}training fields: {', '.join(TRAINING_FIELDS)}"
        )
    try:
        checked = getattr(TrainingConfig.model_validate({name: value}), name)
    except ValidationError as exc:
        message = str(exc.errors(include_url=False)[0]["msg"]).replace("Input should", "must")
        takes = _TAKES.get(name) or _TAKES_MORE.get(name, "a value of its type")
        raise ConfigError(
            f"{source}: {loc}: {message} (got {_one_line(repr(value))}) — {name} takes {takes}"
        ) from None
    return tuple(checked) if isinstance(checked, list) else checked


@dataclass(frozen=True)
class Override:
    """One entry: the axes it matches and the training fields it sets, with where they came
    from (`study`, `storage`, `best_val_acc`, `trials`: informative only)."""

    match: Mapping[str, Any]
    training: Mapping[str, Any]
    info: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, spec: RunSpec) -> bool:
        axes = spec.axes()
        return all(_same(axes[axis], value) for axis, value in self.match.items())

    def same_match(self, other: Override) -> bool:
        return set(self.match) == set(other.match) and all(
            _same(v, other.match[k]) for k, v in self.match.items())

    def to_dict(self) -> dict[str, Any]:
        training = {k: list(v) if isinstance(v, tuple) else v for k, v in self.training.items()}
        return {"match": dict(self.match), "training": training, **self.info}


def _entry(source: str, i: int, raw: Any) -> Override:
    where = f"overrides[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: must be a mapping (got {_one_line(repr(raw))}) — "
                          "write match: {...} and training: {...} under '- '")
    for key in raw:
        if key not in _ENTRY_KEYS:
            raise ConfigError(f"{source}: {where}.{key}: unknown key — "
                              f"{_did_you_mean(str(key), _ENTRY_KEYS)}an entry takes "
                              f"{', '.join(_ENTRY_KEYS)}")
    for key in ("match", "training"):
        if not isinstance(raw.get(key), dict) or not raw[key]:
            got = "missing" if key not in raw else f"got {_one_line(repr(raw[key]))}"
            example = ("{method: fts, sparsity: 0.9}" if key == "match"
                       else "{lr: 0.05, weight_decay: 0.0005}")
            raise ConfigError(f"{source}: {where}.{key}: must be a non-empty mapping ({got}) — "
                              f"e.g. {key}: {example}")
    for axis, value in raw["match"].items():
        if axis not in MATCH_AXES:
            raise ConfigError(f"{source}: {where}.match.{axis}: not an axis to match on — "
                              f"{_did_you_mean(str(axis), MATCH_AXES)}"
                              f"match takes {', '.join(MATCH_AXES)}")
        if isinstance(value, bool) or not isinstance(value, _AXIS_TYPES[axis]):
            raise ConfigError(f"{source}: {where}.match.{axis}: must be one value "
                              f"(got {_one_line(repr(value))}) — {axis} takes {_TAKES[axis]}")
    training = {k: check_training_value(source, f"{where}.training.{k}", str(k), v)
                for k, v in raw["training"].items()}
    info = {}
    for key, kind in _INFO.items():
        if key in raw:
            value = raw[key]
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            if not ok or isinstance(value, bool):
                raise ConfigError(f"{source}: {where}.{key}: must be {kind.__name__} "
                                  f"(got {_one_line(repr(value))}) — fix or remove it")
            info[key] = value
    return Override(dict(raw["match"]), training, info)


def load_overrides(path: str | Path) -> list[Override]:
    """The validated entries of the override file at `path`."""
    hint = "write one with pai-bench tune SUITE --method M --space SPACE --out FILE"
    raw = read_yaml_mapping(Path(path), "override", hint)
    source = str(path)
    for key in raw:
        if key != "overrides":
            raise ConfigError(f"{source}: {key}: unknown key — "
                              f"{_did_you_mean(str(key), ['overrides'])}the file takes overrides")
    entries = raw.get("overrides")
    if not isinstance(entries, list) or not entries:
        got = "missing" if "overrides" not in raw else f"got {_one_line(repr(entries))}"
        raise ConfigError(f"{source}: overrides: must be a non-empty list ({got}) — "
                          "write '- match: {...}' entries under it")
    return [_entry(source, i, e) for i, e in enumerate(entries)]


def override_specs(specs: Sequence[RunSpec], overrides: Sequence[Override],
                   source: str = "<overrides>") -> tuple[RunSpec, ...]:
    """`specs` with the training fields of every matching entry set (later entries win)."""
    out = []
    for spec in specs:
        for i, entry in enumerate(overrides):
            if not entry.matches(spec):
                continue
            training = dataclasses.replace(spec.training, **entry.training)
            if training.epochs <= spec.warmup_epochs:
                raise ConfigError(
                    f"{source}: overrides[{i}].training.epochs: {training.epochs} epochs leave "
                    f"no sparse epoch after the {spec.warmup_epochs}-epoch warm-up of run "
                    f"{spec.axes()} — use more epochs or narrow match"
                )
            spec = dataclasses.replace(spec, training=training)
        out.append(spec)
    return tuple(out)


def apply_override_file(suite: Suite, path: str | Path) -> Suite:
    """The suite with the override file at `path` applied to its runs."""
    specs = override_specs(suite.specs, load_overrides(path), str(path))
    return dataclasses.replace(suite, specs=specs)


def write_overrides(path: str | Path, entries: Sequence[Override],
                    header: Sequence[str] = ()) -> list[Override]:
    """Write `entries` to `path`, keeping the entries of an existing file that match other
    runs (so tuning one method after another fills one file); `header` lines become comments.
    The file is replaced atomically. Returns every entry written."""
    path = Path(path)
    kept = load_overrides(path) if path.exists() else []
    kept = [old for old in kept if not any(old.same_match(new) for new in entries)]
    merged = [*kept, *entries]
    text = "".join(f"# {line}\n" for line in header)
    text += yaml.safe_dump({"overrides": [e.to_dict() for e in merged]}, sort_keys=False,
                           default_flow_style=None, allow_unicode=True, width=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file, not mkstemp's private 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return merged
