"""The method plug-in contract and the shared scoring building blocks.

A method is a class registered under a short name. Its dataclass fields are its options (typed,
validated, logged); `score(ctx)` returns one tensor per prunable parameter, higher = keep. The
harness, not the method, turns scores into masks, so scope, schedules and exact counts are the same
for every method. Notation (PROTOCOL.md): N scoring samples, ℓ_n the loss of sample n,

    ḡ = (1/N) Σ_n ∇ℓ_n        (mean gradient)
    F̂ = (1/N) Σ_n (∇ℓ_n)²     (empirical Fisher diagonal)
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from pai_bench.errors import ConfigError
from pai_bench.fisher import batched_fisher, split_supported
from pai_bench.registry import Registry

METHODS: Registry[type[Method]] = Registry(
    "method", group="pai_bench.methods", builtin="pai_bench.methods"
)
register_method = METHODS.register

LossFn = Callable[[Tensor, Tensor], Tensor]
Batch = tuple[Tensor, Tensor]


@dataclass(frozen=True, kw_only=True)
class Method:
    """Base class of every scoring method; subclasses become frozen keyword-only dataclasses.

    Class attributes: `needs_data` (False for data-free methods such as SynFlow) and `rounds`
    (pruning rounds on the exponential schedule; a method may make it an option field).
    Options every method has: `mode`, the model's mode while scoring ("eval", the FTS protocol,
    or "train").
    """

    needs_data: ClassVar[bool] = True
    rounds: ClassVar[int] = 1
    mode: Literal["eval", "train"] = "eval"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True, kw_only=True)(cls)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check option values; raise `ConfigError` through `require`."""

    def score(self, ctx: ScoringContext) -> dict[str, Tensor]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The resolved options, for logging and for reports beside the masks."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def create(cls, name: str = "", **options: Any) -> Method:
        """Build from untyped options (YAML, command line); unknown names, wrong types fail."""
        label = name or cls.__name__
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        resolved = {}
        for key, value in options.items():
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise ConfigError(
                    f"unknown option '{key}' for method '{label}': {hint}"
                    f"options are {', '.join(_describe(fields[k], hints[k]) for k in fields)}"
                )
            resolved[key] = _coerce(label, key, value, hints[key])
        return cls(**resolved)


def require(ok: bool, option: str, expected: str, value: Any) -> None:
    """Raise a one-line `ConfigError` naming the option, its value and what it must be."""
    if not ok:
        raise ConfigError(f"option '{option}' = {value!r} is invalid: it must be {expected}")


def _describe(f: dataclasses.Field, hint: Any) -> str:
    return f"{f.name} ({_type_name(hint)}, default {f.default!r})"


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def _coerce(label: str, key: str, value: Any, hint: Any) -> Any:
    bad = ConfigError(
        f"option '{key}' of method '{label}' must be {_type_name(hint)}, got {value!r}"
    )
    if typing.get_origin(hint) is Literal:
        if value not in typing.get_args(hint):
            raise bad
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-8 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad
        return value
    return value


def make_method(name: str, **options: Any) -> Method:
    """The registered method `name` with validated options."""
    return METHODS.get(name).create(name, **options)


def make_seeded_method(name: str, seed: int, **options: Any) -> Method:
    """`make_method`, where a seeded method (random) follows `seed` unless `options` fix it."""
    method = make_method(name, **options)
    if "seed" in method.options() and "seed" not in options:
        method = make_method(name, **options, seed=seed)
    return method


@dataclass
class FisherStats:
    """Mean gradient ḡ and empirical Fisher diagonal F̂ per prunable parameter."""

    mean_grad: dict[str, Tensor]
    fisher: dict[str, Tensor]


@dataclass
class ScoringContext:
    """What a method scores with: a private copy of the model (masked so far, in the scoring mode),
    the names of its prunable parameters, the scoring batches on the device and the loss.

    The model is the method's to change (SynFlow makes it non-negative); the caller's is untouched.
    `loss_fn` must reduce by the mean over the batch.
    """

    model: nn.Module
    names: list[str]
    batches: Sequence[Batch]
    loss_fn: LossFn
    input_shape: tuple[int, ...]
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def params(self) -> dict[str, nn.Parameter]:
        return {n: self.model.get_parameter(n) for n in self.names}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def num_samples(self) -> int:
        return sum(len(y) for _, y in self.batches)

    def _require_data(self) -> None:
        if not self.batches:
            raise ConfigError("this method needs scoring data, but no batches were given")

    def mean_gradient(self, *, temperature: float = 1.0) -> dict[str, Tensor]:
        """ḡ = (1/N) Σ_n ∇ℓ_n, with the logits divided by `temperature`."""
        key = ("mean_gradient", temperature)
        if key not in self._cache:
            self._require_data()
            params = self.params
            total = {n: torch.zeros_like(p) for n, p in params.items()}
            n_total = self.num_samples
            for x, y in self.batches:
                loss = self.loss_fn(self.model(x) / temperature, y) * (len(y) / n_total)
                for n, g in zip(params, torch.autograd.grad(loss, list(params.values()))):
                    total[n] += g
            self._cache[key] = total
        return self._cache[key]

    def fisher(self, *, mask_batch: int = 1) -> FisherStats:
        """ḡ and F̂ in one pass. With `mask_batch` B > 1, F̂ = B · mean_b (ḡ_b)² over consecutive
        B-sample mini-batches (the FTS code's convention); B = 1 is the per-sample Fisher."""
        key = ("fisher", mask_batch)
        if key not in self._cache:
            self._require_data()
            if mask_batch == 1 and not self.model.training:
                self._cache[key] = self._per_sample_fisher()
            else:
                self._cache[key] = self._minibatch_fisher(mask_batch)
        return self._cache[key]

    def _per_sample_fisher(self) -> FisherStats:
        # Conv2d/Linear weights: one batched backward per batch (pai_bench.fisher); any other
        # prunable tensor: exact per-sample gradients by vmap.
        fast, slow = split_supported(self.model, self.names)
        g_sum, f_sum = batched_fisher(self.model, fast, self.batches, self.loss_fn)
        if slow:
            g_slow, f_slow = self._vmap_fisher(slow)
            g_sum.update(g_slow)
            f_sum.update(f_slow)
        n_total = self.num_samples
        return FisherStats({n: g_sum[n] / n_total for n in self.names},
                           {n: f_sum[n] / n_total for n in self.names})

    def _vmap_fisher(self, names: list[str], chunk_elements: int = 2**26
                     ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Σ_n ∇ℓ_n and Σ_n (∇ℓ_n)² for `names` from vmapped per-sample gradients, in chunks so
        that chunk × n_params floats stay bounded."""
        params = {n: self.model.get_parameter(n).detach() for n in names}
        rest = {n: t.detach() for n, t in self.model.named_parameters() if n not in params}
        rest.update(dict(self.model.named_buffers()))
        n_params = sum(p.numel() for p in params.values())
        chunk = max(1, chunk_elements // max(1, n_params))

        def sample_loss(ps: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
            out = functional_call(self.model, {**ps, **rest}, (x.unsqueeze(0),))
            return self.loss_fn(out, y.unsqueeze(0))

        per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
        g_sum = {n: torch.zeros_like(p) for n, p in params.items()}
        f_sum = {n: torch.zeros_like(p) for n, p in params.items()}
        for x, y in self.batches:
            for start in range(0, len(y), chunk):
                grads = per_sample(params, x[start : start + chunk], y[start : start + chunk])
                for n, g in grads.items():
                    g_sum[n] += g.sum(0)
                    f_sum[n] += g.square().sum(0)
        return g_sum, f_sum

    def _minibatch_fisher(self, mask_batch: int) -> FisherStats:
        params = self.params
        g_sum = {n: torch.zeros_like(p) for n, p in params.items()}
        f_sum = {n: torch.zeros_like(p) for n, p in params.items()}
        n_batches = 0
        for x, y in self.batches:
            for start in range(0, len(y), mask_batch):
                xb, yb = x[start : start + mask_batch], y[start : start + mask_batch]
                loss = self.loss_fn(self.model(xb), yb)
                for n, g in zip(params, torch.autograd.grad(loss, list(params.values()))):
                    g_sum[n] += g * len(yb)
                    f_sum[n] += g.square()
                n_batches += 1
        n_total = self.num_samples
        return FisherStats(
            {n: g / n_total for n, g in g_sum.items()},
            {n: f * (mask_batch / n_batches) for n, f in f_sum.items()},
        )

    def hessian_gradient_product(self, *, temperature: float = 1.0) -> dict[str, Tensor]:
        """H ḡ, with H the Hessian of the mean loss and ḡ its gradient, logits divided by
        `temperature` in both (GraSP's convention); one double-backward per batch."""
        g_bar = self.mean_gradient(temperature=temperature)
        params = self.params
        n_total = self.num_samples
        hg = {n: torch.zeros_like(p) for n, p in params.items()}
        for x, y in self.batches:
            loss = self.loss_fn(self.model(x) / temperature, y) * (len(y) / n_total)
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
            z = sum((g * g_bar[n]).sum() for n, g in zip(params, grads))
            for n, h in zip(params, torch.autograd.grad(z, list(params.values()))):
                hg[n] += h
        return hg
