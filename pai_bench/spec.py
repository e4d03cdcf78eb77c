"""What one run is: frozen, hashable, picklable dataclasses, and the run key that names it.

The suite file (validated at the boundary by `pai_bench.suite`) expands into `RunSpec`s; nothing
after that sees YAML or pydantic. The run key is the SHA-256 of the canonical JSON of the resolved
spec with every field at its default left out, so that adding an option with a default never
changes the keys of runs already in a store (open_lth's rule); tests pin literal keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

DENSE = "dense"  # the method name of the unpruned baseline
ABLATIONS = ("none", "shuffle", "reinit", "invert")  # sanity checks of Frankle et al. (2021)

Options = tuple[tuple[str, Any], ...]  # a dict made hashable: sorted (key, value) pairs


def freeze(options: dict[str, Any] | None) -> Options:
    """A dict of scalar (or list) options as sorted pairs, lists turned into tuples."""
    return tuple(
        sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (options or {}).items())
    )


@dataclass(frozen=True)
class Training:
    """The training recipe; the defaults are the FTS paper's (PROTOCOL.md)."""

    epochs: int = 160
    batch_size: int = 512
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: Literal["multistep", "cosine", "constant"] = "multistep"
    milestones: tuple[int, ...] = (60, 120)
    gamma: float = 0.2


@dataclass(frozen=True)
class Pruning:
    scope: Literal["global", "layer"] = "global"
    prune_classifier: bool = False
    rewind: bool = False  # after pruning, reset the kept weights to their initial values


@dataclass(frozen=True)
class Scoring:
    samples: int = 40_000  # the FTS protocol scores on the whole 40k training subset
    batch_size: int = 256


@dataclass(frozen=True)
class RunSpec:
    """One run: a point of the suite's grid with everything resolved."""

    model: str
    dataset: str
    method: str
    sparsity: float
    warmup_epochs: int
    seed: int
    dataset_options: Options = ()
    method_options: Options = ()
    training: Training = field(default_factory=Training)
    pruning: Pruning = field(default_factory=Pruning)
    scoring: Scoring = field(default_factory=Scoring)
    ablation: Literal["none", "shuffle", "reinit", "invert"] = "none"

    @property
    def is_dense(self) -> bool:
        return self.method == DENSE

    @property
    def label(self) -> str:
        """The method as tables show it: `snip`, or `snip+shuffle` for an ablated mask."""
        return self.method if self.ablation == "none" else f"{self.method}+{self.ablation}"

    def axes(self) -> dict[str, Any]:
        """The grid coordinates, for filters, tags and tables."""
        return {
            "model": self.model, "dataset": self.dataset, "method": self.method,
            "sparsity": self.sparsity, "warmup_epochs": self.warmup_epochs, "seed": self.seed,
            "ablation": self.ablation,
        }

    def to_dict(self) -> dict[str, Any]:
        """The full resolved spec as plain JSON-able data (defaults included)."""
        return _plain(dataclasses.asdict(self))

    def flat(self) -> dict[str, Any]:
        """`training.lr`-style flat keys, for MLflow params."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = value

        walk("", self.to_dict())
        return out

    @property
    def key(self) -> str:
        return run_key(self)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # options are stored as pairs; give them back as a mapping
        if value and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                         for p in value):
            return {k: _plain(v) for k, v in value}
        return [_plain(v) for v in value]
    return value


def _without_defaults(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
                continue
            out[f.name] = _without_defaults(value)
        return out
    return _plain(obj)


def run_key(spec: RunSpec) -> str:
    """SHA-256 (first 16 hex digits) of the canonical JSON of the spec without its defaults."""
    canonical = json.dumps(_without_defaults(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
