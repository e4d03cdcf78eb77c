"""The space file of `pai-bench tune`: which training fields a trial samples, and how.

Each key is a `spec.Training` field, given as a range or a list of choices::

    lr: {low: 0.01, high: 0.3, log: true}           # a float field: suggest_float
    epochs: {low: 2, high: 6, step: 1}              # an int field: suggest_int
    momentum: {choices: [0.8, 0.9]}                 # any field but milestones: suggest_categorical

A problem is a one-line `ConfigError` naming the file, the field and the fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pai_bench.errors import ConfigError
from pai_bench.overrides import check_training_value
from pai_bench.spec import RunSpec, Training
from pai_bench.suite import _did_you_mean, _one_line, read_yaml_mapping

if TYPE_CHECKING:
    import optuna

__all__ = ["Dimension", "Space", "load_space"]

_KINDS = {f.name: type(f.default) for f in dataclasses.fields(Training)}  # int, float, str, ...
_RANGE_KEYS = ("low", "high", "log", "step")
_SPACE_HINT = "see suites/tune_quickstart.yaml, e.g. lr: {low: 0.01, high: 0.3, log: true}"


@dataclass(frozen=True)
class Dimension:
    """One tuned training field: a range (`low`..`high`, optionally `log` or `step`) or a list
    of `choices`."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if _KINDS[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    @property
    def smallest(self) -> Any:
        return min(self.choices) if self.choices is not None else self.low


@dataclass(frozen=True)
class Space:
    """The validated space file: the training fields a trial samples."""

    source: str
    dimensions: tuple[Dimension, ...]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {d.name: d.suggest(trial) for d in self.dimensions}

    def check(self, spec: RunSpec, study: str) -> None:
        """Every sampled recipe leaves at least one sparse epoch after the spec's warm-up."""
        for d in self.dimensions:
            if d.name == "epochs" and d.smallest <= spec.warmup_epochs:
                at = "choices" if d.choices is not None else "low"
                raise ConfigError(
                    f"{self.source}: epochs.{at}: {d.smallest} epochs leave no sparse epoch after "
                    f"the {spec.warmup_epochs}-epoch warm-up of study {study} — use epochs of at "
                    f"least {spec.warmup_epochs + 1}"
                )

    def to_dict(self) -> dict[str, Any]:
        return {d.name: {k: v for k, v in dataclasses.asdict(d).items()
                         if k != "name" and v not in (None, False)} for d in self.dimensions}


def _number(source: str, loc: str, value: Any, kind: type) -> Any:
    ok = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if not ok or isinstance(value, bool):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{source}: {loc}: must be {what} (got {_one_line(repr(value))}) — "
                          f"{loc.split('.')[0]} is {'an int' if kind is int else 'a float'} field")
    return value


def _dimension(source: str, name: str, raw: Any) -> Dimension:
    if name not in _KINDS:
        raise ConfigError(f"{source}: {name}: not a training field — "
                          f"{_did_you_mean(name, list(_KINDS))}training fields: "
                          f"{', '.join(_KINDS)}")
    if name == "milestones":
        raise ConfigError(f"{source}: milestones: a list cannot be tuned — set it in the suite, "
                          "or tune schedule: {choices: [multistep, cosine]}")
    kind = _KINDS[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {name}: must be a mapping (got {_one_line(repr(raw))}) — "
                          f"write {name}: {{low: ..., high: ...}} or {name}: {{choices: [...]}}")
    allowed = ("choices",) if "choices" in raw else _RANGE_KEYS
    for key in raw:
        if key not in allowed:
            fix = (f"{_did_you_mean(str(key), [*_RANGE_KEYS, 'choices'])}a range takes "
                   f"{', '.join(_RANGE_KEYS)}; a list takes choices alone")
            raise ConfigError(f"{source}: {name}.{key}: unknown key here — {fix}")
    if "choices" in raw:
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{source}: {name}.choices: must be a non-empty list "
                              f"(got {_one_line(repr(choices))}) — e.g. choices: [0.8, 0.9]")
        checked = tuple(check_training_value(source, f"{name}.choices[{i}]", name, v)
                        for i, v in enumerate(choices))
        if len(set(checked)) < len(checked):
            raise ConfigError(f"{source}: {name}.choices: a value appears twice — "
                              "remove the repeat")
        return Dimension(name, choices=checked)
    if kind not in (int, float):
        raise ConfigError(f"{source}: {name}: a {kind.__name__} field has no range — "
                          f"list its values: {name}: {{choices: [...]}}")
    for key in ("low", "high"):
        if key not in raw:
            raise ConfigError(f"{source}: {name}.{key}: missing (required) — a range needs low "
                              f"and high, e.g. {name}: {{low: ..., high: ...}}")
    low = check_training_value(source, f"{name}.low", name, _number(source, f"{name}.low",
                                                                   raw["low"], kind))
    high = check_training_value(source, f"{name}.high", name, _number(source, f"{name}.high",
                                                                     raw["high"], kind))
    if low >= high:
        raise ConfigError(f"{source}: {name}: low {low} is not below high {high} — swap them, or "
                          f"set one value in the suite (training.{name})")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{source}: {name}.log: must be true or false "
                          f"(got {_one_line(repr(log))}) — log: true samples on a log scale")
    if log and low <= 0:
        raise ConfigError(f"{source}: {name}.low: a log scale needs low > 0 (got {low}) — "
                          "raise low or drop log: true")
    step = raw.get("step")
    if step is not None:
        step = _number(source, f"{name}.step", step, kind)
        if step <= 0 or log:
            problem = "log and step exclude each other" if log else f"must be > 0 (got {step})"
            raise ConfigError(f"{source}: {name}.step: {problem} — drop step or log")
    return Dimension(name, low=low, high=high, log=log, step=step)


def load_space(path: str | Path) -> Space:
    """The validated space file at `path`; a problem is a one-line `ConfigError` naming the file
    and the field."""
    raw = read_yaml_mapping(Path(path), "space", _SPACE_HINT)
    source = str(path)
    if not raw:
        raise ConfigError(f"{source}: top level: no training field to tune — {_SPACE_HINT}")
    return Space(source, tuple(_dimension(source, str(k), v) for k, v in raw.items()))
