"""Suite files: the YAML schema, ``--set`` overrides, grid expansion into `RunSpec`s, filters.

A suite file names a grid of runs and the recipe they share::

    name: quickstart                      # [A-Za-z0-9_.-]+
    description: every method on 8x8 digits
    grid:                                 # each axis one value or a non-empty list
      model: small_cnn                    # registered names, or timm:<name>
      dataset: digits
      method: [fts, snip, synflow]        # registered methods ("dense": see dense_baseline)
      sparsity: [0.5, 0.9]                # fraction of prunable weights removed, in [0, 1)
      warmup_epochs: [0, 1]               # dense epochs before pruning, < training.epochs
      seed: [0, 1, 2]
    datasets: {digits: {size: 8, channels: 1}}     # options of the data set builders
    methods: {synflow: {rounds: 100}}              # options of the methods in the grid
    training: {epochs: 6, lr: 0.05, schedule: cosine}   # `spec.Training`, its defaults elsewhere
    pruning: {scope: global}                       # `spec.Pruning`
    scoring: {samples: 256, batch_size: 128}       # `spec.Scoring`
    dense_baseline: true          # one unpruned run per (model, dataset, seed)
    exclude:                      # drop every run matching all the axes of an entry
      - {method: synflow, warmup_epochs: 1}

pydantic validates the file at this boundary only (`SuiteConfig`, unknown keys refused); `expand`
turns it into frozen `RunSpec`s, the only thing later stages see. Method and data set options equal
to their defaults are left out of the specs, so spelling a default out never changes a run key.

Everything wrong with a suite is one `ConfigError` before anything runs, one line of the form
``<file>: <field path>: <what is wrong, with the value> — <the fix>``, for example::

    suites/q.yaml: grid.sparsity[1]: must be less than 1 (got 1.0) — sparsity takes a fraction ...
    suites/q.yaml: grid.warmup_epoch: unknown key — did you mean 'warmup_epochs'? grid takes ...
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import re
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pai_bench.data import DATASETS
from pai_bench.data import dataset_options as builder_options
from pai_bench.errors import ConfigError, UnknownNameError
from pai_bench.method import METHODS
from pai_bench.models import MODELS, TIMM_PREFIX
from pai_bench.registry import Registry
from pai_bench.spec import DENSE, Options, Pruning, RunSpec, Scoring, Training, freeze

__all__ = [
    "AXES",
    "Suite",
    "SuiteConfig",
    "apply_overrides",
    "expand",
    "load_suite",
    "parse_filter",
    "validate_suite",
]

AXES = ("model", "dataset", "method", "sparsity", "warmup_epochs", "seed", "ablation")  # grid order
_REGISTRIES: dict[str, Registry[Any]] = {"model": MODELS, "dataset": DATASETS, "method": METHODS}

Loc = tuple[str | int, ...]  # a field path as pydantic gives it: ("grid", "sparsity", 1)


# ------------------------------------------------------------------------------------- YAML


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with two fixes for hand-written suites: ``1e-4`` is a float (as in
    YAML 1.2; PyYAML's 1.1 reads it as a string without a dot), and a key written twice in one
    mapping is an error (1.1 silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` overrides are legitimate
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise _DuplicateKey(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def read_yaml_mapping(path: Path, what: str, hint: str, *, missing: str | None = None,
                      expected: str = "a mapping") -> dict[str, Any]:
    """The top-level mapping of a YAML file (`what`: suite, override, space), read the suite way
    (``1e-4`` is a float, a key written twice is an error). Every problem is a one-line
    `ConfigError` naming the file and ending in `hint` (`missing` for a file not found)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such {what} file — {missing or hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: cannot read the {what} file ({_one_line(exc)}) — "
                          "pass a UTF-8 YAML file") from None
    try:
        data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    if not isinstance(data, dict):
        got = "nothing (the file is empty)" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{source}: top level: expected {expected}, got {got} — {hint}")
    return data


def _missing_file_hint(path: Path) -> str:
    folder = path.parent
    names = [p.name for p in folder.glob("*.y*ml")] if folder.is_dir() else []
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.5)
    if close:
        return f"did you mean '{folder / close[0]}'?"
    return f"check the path (relative to {Path.cwd()})"


def _yaml_error(source: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark is not None else "YAML"
    problem = _one_line(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    what = problem
    if context:
        opened = getattr(exc, "context_mark", None)
        at = f" at line {opened.line + 1}" if opened is not None else ""
        what = f"{_one_line(context)}{at}, {problem}"
    if isinstance(exc, _DuplicateKey):
        fix = "keep one of the two (a later key would silently replace the first)"
    elif mark is not None:
        fix = f"fix the YAML near line {mark.line + 1}, column {mark.column + 1}"
        fix += " (indentation, a missing ':' or an unclosed bracket or quote)"
    else:
        fix = "fix the YAML syntax"
    return ConfigError(f"{source}: {where}: invalid YAML: {what} — {fix}")


# ---------------------------------------------------------------------------------- overrides


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str], source: str = "<suite>"
) -> dict[str, Any]:
    """A deep copy of the raw suite mapping with each ``a.b=value`` override set.

    The value is read as YAML (``grid.seed=[0,1]``, ``training.epochs=3``); missing intermediate
    mappings are created, so ``methods.fts.mask_batch=4`` works on a file without ``methods``.
    """
    if isinstance(overrides, str):
        overrides = (overrides,)
    data = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(
                f"{source}: --set {item!r}: not KEY=VALUE with a dotted key — "
                "e.g. --set training.epochs=3 or --set grid.seed=[0,1]"
            )
        try:
            value = _parse_yaml(text)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"{source}: --set {item!r}: the value is not valid YAML "
                f"({_one_line(getattr(exc, 'problem', None) or exc)}) — quote it or fix brackets"
            ) from None
        node = data
        for depth, part in enumerate(parts[:-1], start=1):
            if node.get(part) is None:  # absent, or written as an empty `training:`
                node[part] = {}
            if not isinstance(node[part], dict):
                where = ".".join(parts[:depth])
                raise ConfigError(
                    f"{source}: --set {item!r}: {where} is {node[part]!r}, not a mapping — "
                    f"set {where}=... as a whole"
                )
            node = node[part]
        node[parts[-1]] = value
    return data


# ------------------------------------------------------------------------------------- schema


def _as_list(value: Any) -> Any:
    """A grid axis may be written as one value or as a list of values."""
    return value if isinstance(value, list) else [value]


Name = Annotated[str, Field(min_length=1)]
Sparsity = Annotated[float, Field(ge=0, lt=1)]
Count = Annotated[int, Field(ge=0)]
Names = Annotated[list[Name], BeforeValidator(_as_list), Field(min_length=1)]
Sparsities = Annotated[list[Sparsity], BeforeValidator(_as_list), Field(min_length=1)]
Counts = Annotated[list[Count], BeforeValidator(_as_list), Field(min_length=1)]
Ablations = Annotated[list[Literal["none", "shuffle", "reinit", "invert"]],
                      BeforeValidator(_as_list), Field(min_length=1)]


class _Schema(BaseModel):
    # strict: YAML already gives types, so "10" is not an int and true is not 1
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class GridConfig(_Schema):
    """The axes; every point of their product is a run."""

    model: Names
    dataset: Names
    method: Names
    sparsity: Sparsities
    warmup_epochs: Counts = [0]
    seed: Counts = [0]
    ablation: Ablations = ["none"]


class ExcludeEntry(_Schema):
    """A partial grid point; a run matching all its given axes is dropped."""

    model: Names | None = None
    dataset: Names | None = None
    method: Names | None = None
    sparsity: Sparsities | None = None
    warmup_epochs: Counts | None = None
    seed: Counts | None = None
    ablation: Ablations | None = None

    def axes(self) -> dict[str, list[Any]]:
        return {axis: values for axis, values in self.model_dump().items() if values is not None}


class TrainingConfig(_Schema):
    """`spec.Training` with its bounds; the defaults are the dataclass's (the FTS recipe)."""

    epochs: int = Field(Training.epochs, ge=1)
    batch_size: int = Field(Training.batch_size, ge=1)
    optimizer: Literal["sgd", "adam", "adamw"] = Training.optimizer
    lr: float = Field(Training.lr, gt=0)
    momentum: float = Field(Training.momentum, ge=0, lt=1)
    nesterov: bool = Training.nesterov
    weight_decay: float = Field(Training.weight_decay, ge=0)
    schedule: Literal["multistep", "cosine", "constant"] = Training.schedule
    milestones: list[Annotated[int, Field(ge=1)]] = list(Training.milestones)
    gamma: float = Field(Training.gamma, gt=0, le=1)


class PruningConfig(_Schema):
    """`spec.Pruning`."""

    scope: Literal["global", "layer"] = Pruning.scope
    prune_classifier: bool = Pruning.prune_classifier
    rewind: bool = Pruning.rewind


class ScoringConfig(_Schema):
    """`spec.Scoring`."""

    samples: int = Field(Scoring.samples, ge=1)
    batch_size: int = Field(Scoring.batch_size, ge=1)


class SuiteConfig(_Schema):
    """A suite file as validated by pydantic; `validate_suite` adds the checks across fields."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    grid: GridConfig
    datasets: dict[str, dict[str, Any]] = {}
    methods: dict[str, dict[str, Any]] = {}
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    pruning: PruningConfig = Field(default_factory=PruningConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    dense_baseline: bool = False
    exclude: list[ExcludeEntry] = []


# ------------------------------------------------------------------------------------- errors

_TAKES = {  # what a field takes: the fix half of a message about its value
    "name": "letters, digits, '_', '.' and '-', e.g. cifar_extreme",
    "description": "one string of text",
    "model": "model names (pai-bench list models) or timm:<name>",
    "dataset": "data set names (pai-bench list datasets)",
    "method": "method names (pai-bench list methods)",
    "sparsity": "fractions of prunable weights removed, in [0, 1), e.g. 0.9 or 0.99",
    "warmup_epochs": "whole numbers of dense epochs before pruning, >= 0 (0 = at initialization)",
    "seed": "whole numbers >= 0, e.g. [0, 1, 2]",
    "ablation": "sanity checks of the mask: none, shuffle, reinit or invert (Frankle et al. 2021)",
    "epochs": "a whole number >= 1, e.g. 160",
    "batch_size": "a whole number >= 1, e.g. 512",
    "lr": "a number > 0, e.g. 0.01",
    "momentum": "a number in [0, 1), e.g. 0.9",
    "weight_decay": "a number >= 0, e.g. 5e-4",
    "milestones": "a strictly increasing list of epochs >= 1, e.g. [60, 120]",
    "gamma": "a factor in (0, 1], e.g. 0.2",
    "samples": "a whole number >= 1, e.g. 40000",
}


@dataclass(frozen=True)
class _Where:
    """Where errors come from: the file (for the message) and its raw mapping (for paths)."""

    source: str = "<suite>"
    raw: Mapping[str, Any] = field(default_factory=dict)

    def error(self, loc: Loc, what: str, fix: str = "") -> ConfigError:
        path = _format_path(loc, self.raw)
        return ConfigError(f"{self.source}: {path}: {what}" + (f" — {fix}" if fix else ""))


def _format_path(loc: Loc, raw: Any) -> str:
    """``("grid", "sparsity", 1)`` → ``grid.sparsity[1]``, following the raw data: an index into
    an axis written as a scalar (read as a one-value list) is dropped, so the path names what the
    file holds."""
    path = ""
    node = raw
    for part in loc:
        if part == "[key]":  # pydantic's marker for an invalid mapping key
            continue
        if isinstance(part, int) and isinstance(node, list):
            path += f"[{part}]"
            node = node[part] if part < len(node) else None
        elif isinstance(part, int) and not isinstance(node, dict):
            continue  # a scalar axis read as a one-value list
        else:
            path += f".{part}" if path else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return path or "top level"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _short(value: Any, limit: int = 60) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unwrap(annotation: Any) -> Any:
    """The type under Annotated[...] and Optional[...]."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _annotation_at(loc: Loc) -> Any:
    """The schema's type at `loc` (None where the schema does not go), Annotated and Optional
    taken off."""
    annotation: Any = SuiteConfig
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if part not in annotation.model_fields:
                return None
            annotation = annotation.model_fields[str(part)].annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return None
    return _unwrap(annotation)


def _keys_at(loc: Loc) -> list[str]:
    """The keys the schema allows in the mapping at `loc` (empty when it is not a model)."""
    annotation = _annotation_at(loc)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _describe(error: Mapping[str, Any], where: _Where) -> str:
    """One pydantic error as ``<file>: <path>: <what> — <fix>``."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    leaf = next((str(p) for p in reversed(loc) if isinstance(p, str) and p != "[key]"), "")
    takes = f"{leaf} takes {_TAKES[leaf]}" if leaf in _TAKES else ""
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _keys_at(parent)
        owner = _format_path(parent, where.raw) if parent else "the top level"
        fix = _did_you_mean(str(loc[-1]), allowed) + f"{owner} takes {', '.join(allowed)}"
        return str(where.error(loc, "unknown key", fix))
    if kind == "missing":
        keys = _keys_at(loc)
        if keys:
            fix = f"add it, a mapping of {', '.join(keys)}"
        else:
            fix = f"add it: {takes}" if takes else "add it"
        return str(where.error(loc, "missing (required)", fix))
    if kind == "literal_error":
        choices = [str(c) for c in get_args(_annotation_at(loc))]
        expected = (error.get("ctx") or {}).get("expected", "")
        fix = _did_you_mean(str(value), choices) or f"use {expected}"
        return str(where.error(loc, f"{_short(value)} is not one of {expected}", fix.strip()))
    if kind == "too_short":
        return str(where.error(loc, "empty list", "give at least one value (one value or a list)"))
    if kind == "string_pattern_mismatch":
        return str(where.error(loc, f"invalid (got {_short(value)})", takes))
    if "[key]" in loc:
        return str(where.error(loc, f"the key {_short(value)} is not a name", "use a string key"))
    message = str(error["msg"]).replace("Input should", "must").replace("List should", "must")
    if kind in ("dict_type", "model_type"):
        message = "must be a mapping"
        fix = "write key: value lines (or {key: value}) under it"
    elif kind == "list_type" and not takes:
        fix = "write a list, e.g. [a, b]"
    else:
        fix = takes
    return str(where.error(loc, f"{message} (got {_short(value)})", fix))


def _validation_error(exc: ValidationError, where: _Where) -> ConfigError:
    errors = exc.errors(include_url=False)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ConfigError(_describe(errors[0], where) + more)


# ----------------------------------------------------------------------------------- checks


def validate_suite(raw: Mapping[str, Any], source: str = "<suite>") -> SuiteConfig:
    """The validated suite: the schema, then the checks across fields (names in the registries,
    options, warm-up vs epochs, ...); the first problem is a one-line `ConfigError`."""
    where = _Where(source, raw)
    try:
        config = SuiteConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise _validation_error(exc, where) from None
    _check_grid(config, where)
    _check_training(config.training, where)
    for name, options in config.methods.items():
        _check_options_owner("method", name, config.grid.method, where)
        _method_options(name, options, where)
    for name, options in config.datasets.items():
        _check_options_owner("dataset", name, config.grid.dataset, where)
        _dataset_options(name, options, where)
    _check_exclude(config, where)
    return config


def _check_name(registry: Registry[Any], name: str, loc: Loc, where: _Where) -> None:
    """A registered name; ``timm:<name>`` passes for models without importing timm."""
    if registry is MODELS and name.startswith(TIMM_PREFIX):
        if not name[len(TIMM_PREFIX) :].strip():
            raise where.error(
                loc, f"{name!r} names no timm model", "write timm:<name>, e.g. timm:resnet50"
            )
        return
    try:
        registry.get(name)
    except UnknownNameError as exc:
        message = str(exc)
        head = f"unknown {registry.kind} {name!r}: "
        if message.startswith(head):  # "unknown x 'y': did you mean ..." → "what — fix"
            raise where.error(loc, head[:-2], message[len(head) :]) from None
        raise where.error(loc, message) from None


def _check_grid(config: SuiteConfig, where: _Where) -> None:
    grid = config.grid
    for axis in AXES:
        values = getattr(grid, axis)
        for i, value in enumerate(values):
            loc = ("grid", axis, i)
            if value in values[:i]:
                raise where.error(
                    loc, f"{value!r} appears twice in grid.{axis}", "remove the repeat"
                )
            if axis == "method" and value == DENSE:
                raise where.error(
                    loc,
                    f"{DENSE!r} is the unpruned baseline, not a method",
                    "remove it and set dense_baseline: true",
                )
            if axis in _REGISTRIES:
                _check_name(_REGISTRIES[axis], value, loc, where)
            if axis == "warmup_epochs" and value >= config.training.epochs:
                raise where.error(
                    loc,
                    f"a warm-up of {value} epochs is not shorter than training.epochs = "
                    f"{config.training.epochs}",
                    "warm-up epochs count toward the total: use fewer or raise training.epochs",
                )


def _check_training(training: TrainingConfig, where: _Where) -> None:
    milestones = training.milestones
    for i, epoch in enumerate(milestones):
        loc = ("training", "milestones", i)
        if i and epoch <= milestones[i - 1]:
            raise where.error(
                loc,
                f"{epoch} does not come after {milestones[i - 1]}",
                "milestones must be strictly increasing, e.g. [60, 120]",
            )
        if training.schedule == "multistep" and epoch >= training.epochs:
            raise where.error(
                loc,
                f"{epoch} is not before the last epoch (training.epochs = {training.epochs})",
                "use milestones below training.epochs",
            )
    if training.nesterov and (training.optimizer != "sgd" or training.momentum == 0):
        raise where.error(
            ("training", "nesterov"),
            "Nesterov momentum needs optimizer sgd and "
            f"momentum > 0 (got {training.optimizer}, momentum {training.momentum})",
            "set nesterov: false or use sgd with momentum",
        )


def _check_options_owner(kind: str, name: str, grid_names: list[str], where: _Where) -> None:
    loc = (f"{kind}s", name)
    if kind == "method" and name == DENSE:
        raise where.error(loc, "the dense baseline has no options", f"remove {kind}s.{name}")
    _check_name(_REGISTRIES[kind], name, loc, where)
    if name not in grid_names:
        raise where.error(
            loc,
            f"options for {kind} {name!r}, which grid.{kind} does not include",
            f"add {name} to grid.{kind} or remove these options",
        )


def _check_exclude(config: SuiteConfig, where: _Where) -> None:
    for i, entry in enumerate(config.exclude):
        axes = entry.axes()
        if not axes:
            raise where.error(
                ("exclude", i),
                "an empty entry would drop every run",
                f"give at least one of {', '.join(AXES)}",
            )
        for axis, values in axes.items():
            for j, value in enumerate(values):
                if axis in _REGISTRIES and not (axis == "method" and value == DENSE):
                    _check_name(_REGISTRIES[axis], value, ("exclude", i, axis, j), where)
    if not expand(config):  # entries that together cover the whole grid
        raise where.error(
            ("exclude",), "excludes every run of the grid", "remove or narrow the entries"
        )


# ----------------------------------------------------------------------------------- options


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _method_options(name: str, options: Mapping[str, Any], where: _Where) -> Options:
    """Validated options of method `name`, leaving out those equal to the method's defaults."""
    cls = METHODS.get(name)
    loc = ("methods", name)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in options:
        if key not in fields:
            raise where.error(
                (*loc, key),
                f"unknown option of method {name!r}",
                _did_you_mean(key, fields) + f"{name} takes {', '.join(fields)}",
            )
    try:
        method = cls.create(name, **options)
    except ConfigError as exc:
        for key, value in options.items():  # pin the error on one option where possible
            try:
                cls.create(name, **{key: value})
            except ConfigError as single:
                raise where.error((*loc, key), str(single)) from None
        raise where.error(loc, str(exc)) from None
    resolved = method.options()
    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in fields.values()
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    return freeze(
        {
            key: resolved[key]
            for key in options
            if key not in defaults or _frozen(resolved[key]) != _frozen(defaults[key])
        }
    )


def _dataset_options(name: str, options: Mapping[str, Any], where: _Where) -> Options:
    """Validated options of data set `name` (typed like their defaults), defaults left out."""
    valid = builder_options(name)
    if valid is None:  # the builder takes **kwargs: nothing to check against
        return freeze(dict(options))
    resolved = {}
    for key, value in options.items():
        loc = ("datasets", name, key)
        if key not in valid:
            takes = ", ".join(f"{k} (default {v!r})" for k, v in valid.items()) or "no options"
            raise where.error(
                loc,
                f"unknown option of data set {name!r}",
                _did_you_mean(key, valid) + f"{name} takes {takes}",
            )
        resolved[key] = _typed_like(valid[key], value, loc, where)
    return freeze({k: v for k, v in resolved.items() if _frozen(v) != _frozen(valid[k])})


def _typed_like(default: Any, value: Any, loc: Loc, where: _Where) -> Any:
    """`value` checked against the type of `default` (ints pass as floats, bools never as ints)."""
    if default is None:
        return value
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise where.error(
        loc, f"must be {kind.__name__} (got {_short(value)})", f"its default is {default!r}"
    )


# --------------------------------------------------------------------------------- expansion


def expand(config: SuiteConfig) -> tuple[RunSpec, ...]:
    """The runs of a validated suite in grid order (model → dataset → method → sparsity →
    warm-up → seed), the dense baselines first for each (model, dataset), exclusions dropped.

    Dense runs carry no method options and the default pruning and scoring settings (they
    neither prune nor score), so one baseline has the same key in every suite that trains it
    the same way.
    """
    grid = config.grid
    training = Training(
        **{**config.training.model_dump(), "milestones": tuple(config.training.milestones)}
    )
    pruning = Pruning(**config.pruning.model_dump())
    scoring = Scoring(**config.scoring.model_dump())
    where = _Where()
    method_options = {m: _method_options(m, config.methods.get(m, {}), where) for m in grid.method}
    data_options = {d: _dataset_options(d, config.datasets.get(d, {}), where) for d in grid.dataset}
    specs = []
    for model, dataset in itertools.product(grid.model, grid.dataset):
        common: dict[str, Any] = {
            "model": model,
            "dataset": dataset,
            "dataset_options": data_options[dataset],
            "training": training,
        }
        if config.dense_baseline:
            specs += [
                RunSpec(method=DENSE, sparsity=0.0, warmup_epochs=0, seed=seed, **common)
                for seed in grid.seed
            ]
        for method, sparsity, warmup, seed, ablation in itertools.product(
            grid.method, grid.sparsity, grid.warmup_epochs, grid.seed, grid.ablation
        ):
            specs.append(
                RunSpec(
                    method=method,
                    sparsity=float(sparsity),
                    warmup_epochs=warmup,
                    seed=seed,
                    ablation=ablation,
                    method_options=method_options[method],
                    pruning=pruning,
                    scoring=scoring,
                    **common,
                )
            )
    excluded = [entry.axes() for entry in config.exclude]
    return tuple(s for s in specs if not any(_matches(s, e) for e in excluded))


def _same(a: Any, b: Any) -> bool:
    """Equal, and not merely because True == 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _matches(spec: RunSpec, selection: Mapping[str, Sequence[Any]]) -> bool:
    """Whether the spec's value on every axis of `selection` is one of the values given."""
    axes = spec.axes()
    return all(any(_same(axes[a], v) for v in values) for a, values in selection.items())


# ------------------------------------------------------------------------------------- filter


def parse_filter(pattern: str, source: str = "") -> dict[str, tuple[Any, ...]]:
    """``"method=fts|snip,sparsity=0.99"`` → ``{"method": ("fts", "snip"), "sparsity": (0.99,)}``.

    Values are read as YAML; ``|`` separates alternatives; an axis given twice adds alternatives.
    """
    prefix = f"{source}: " if source else ""
    selection: dict[str, tuple[Any, ...]] = {}
    for part in filter(None, (p.strip() for p in pattern.split(","))):
        axis, sep, text = (s.strip() for s in part.partition("="))
        if not sep or not axis or not text:
            raise ConfigError(
                f"{prefix}--filter {pattern!r}: {part!r} is not AXIS=VALUE — e.g. "
                "--filter method=fts,sparsity=0.99 (alternatives: method=fts|snip)"
            )
        if axis not in AXES:
            raise ConfigError(
                f"{prefix}--filter {pattern!r}: unknown axis {axis!r} — "
                f"{_did_you_mean(axis, AXES)}axes: {', '.join(AXES)}"
            )
        try:
            values = tuple(_parse_yaml(v.strip()) for v in text.split("|"))
        except yaml.YAMLError:
            raise ConfigError(
                f"{prefix}--filter {pattern!r}: {text!r} is not a YAML value — "
                "write values such as method=fts or sparsity=0.99"
            ) from None
        selection[axis] = selection.get(axis, ()) + values
    return selection


# -------------------------------------------------------------------------------------- suite


@dataclass(frozen=True)
class Suite:
    """A loaded suite: its runs as frozen specs, and what it was made from (for logging).

    `raw` is the file's mapping with the ``--set`` overrides applied; `resolved` is the validated
    suite with every default filled in.
    """

    name: str
    description: str
    path: Path
    specs: tuple[RunSpec, ...]
    overrides: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    resolved: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.specs)

    def __iter__(self) -> Iterator[RunSpec]:
        return iter(self.specs)

    def filter(self, pattern: str) -> Suite:
        """The runs matching ``axis=value[|value...]`` pairs separated by commas, e.g.
        ``method=fts|snip,sparsity=0.99``; a value no run has is an error (likely a typo)."""
        source = str(self.path)
        selection = parse_filter(pattern, source)
        for axis, values in selection.items():
            present = list(dict.fromkeys(spec.axes()[axis] for spec in self.specs))
            for value in values:
                if not any(_same(value, p) for p in present):
                    raise ConfigError(
                        f"{source}: --filter {pattern!r}: no run has {axis} {value!r} — "
                        f"this suite has {axis} {', '.join(map(str, present))}"
                    )
        return dataclasses.replace(
            self, specs=tuple(s for s in self.specs if _matches(s, selection))
        )


def load_suite(path: str | Path, overrides: Sequence[str] = (), only: str | None = None
               ) -> Suite:
    """Read, override (``a.b=value``), validate and expand the suite file at `path`, keeping
    only the runs matching `only` (see `Suite.filter`) when given.

    Everything wrong with it is a one-line `ConfigError` naming the file and the field.
    """
    path = Path(path)
    source = str(path)
    overrides = (overrides,) if isinstance(overrides, str) else tuple(overrides)
    raw = read_yaml_mapping(path, "suite", "start from suites/quickstart.yaml",
                            missing=_missing_file_hint(path),
                            expected="a mapping of keys (name, grid, training, ...)")
    raw = apply_overrides(raw, overrides, source)
    config = validate_suite(raw, source)
    suite = Suite(
        name=config.name,
        description=config.description,
        path=path,
        specs=expand(config),
        overrides=overrides,
        raw=raw,
        resolved=config.model_dump(mode="json"),
    )
    return suite.filter(only) if only else suite
