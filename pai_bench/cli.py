"""The `pai-bench` command line: list | score | run | leaderboard | collapse.

Every error a user can cause prints one line and exits with code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from pai_bench.cli_options import add_device_options, add_suite_options, add_tracking_option
from pai_bench.errors import ConfigError, PaiBenchError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parse_assignments(items: Sequence[str], what: str) -> dict[str, Any]:
    """`["a=1", "b=x"]` → {"a": 1, "b": "x"}, values read as YAML scalars."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} {item!r} is not KEY=VALUE, e.g. {what} mask_batch=4")
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out


def _summary(obj: object, width: int = 88) -> str:
    """The first paragraph of a plug-in's docstring (a method's: its file's), cut to `width`."""
    from pai_bench.method import Method

    module = sys.modules.get(getattr(obj, "__module__", ""))
    own = None if isinstance(obj, type) and issubclass(obj, Method) else obj.__doc__
    doc = (own or getattr(module, "__doc__", None) or "").strip()
    first = " ".join(doc.split("\n\n")[0].split())
    return first if len(first) <= width else first[: width - 1] + "…"


def cmd_list(args: argparse.Namespace) -> int:
    from pai_bench.data import DATASETS
    from pai_bench.method import METHODS
    from pai_bench.models import MODELS

    registry = {"methods": METHODS, "models": MODELS, "datasets": DATASETS}[args.what]
    names = registry.names(args.pattern)
    width = max((len(n) for n in names), default=0)
    for name in names:
        print(f"{name:<{width}}  {_summary(registry.get(name))}".rstrip())
    if args.what == "models":
        print(f"{'timm:<name>':<{width}}  any timm model, classes and input channels set")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import torch

    from pai_bench.data import load_dataset
    from pai_bench.data.sampling import scoring_batches
    from pai_bench.effective import effective_masks
    from pai_bench.masks import achieved_sparsity, check_sparsity
    from pai_bench.method import make_method
    from pai_bench.models import build_model
    from pai_bench.scoring import prune

    check_sparsity(args.sparsity)
    method = make_method(args.method, **parse_assignments(args.option, "--option"))
    device = torch.device(args.device)
    data = load_dataset(args.dataset, root=args.data_dir,
                        **parse_assignments(args.dataset_option, "--dataset-option"))
    torch.manual_seed(args.seed)
    model = build_model(args.model, num_classes=data.num_classes, input_shape=data.input_shape)
    model.to(device)
    batches = scoring_batches(data, samples=args.samples, batch_size=args.batch_size,
                              seed=args.seed, device=device) if method.needs_data else []
    result = prune(method, model, batches, args.sparsity, scope=args.scope,
                   prune_classifier=args.prune_classifier, input_shape=data.input_shape)

    print(f"{args.method} on {args.model} / {data.name} ({data.description}), "
          f"sparsity {args.sparsity}, scope {args.scope}, "
          f"{sum(len(y) for _, y in batches) if batches else 'no'} scoring samples, "
          f"options {result.options}")
    layers = result.layers
    effective = effective_masks(model, result.masks, data.input_shape)
    width = max(len(d.name) for d in layers)
    print(f"{'layer':<{width}}  {'kept':>10}  {'total':>10}  {'density':>9}  {'effective':>10}")
    for d in layers:
        flag = "  COLLAPSED" if d.collapsed else ""
        print(f"{d.name:<{width}}  {d.kept:>10,}  {d.total:>10,}  {d.density:>9.4%}  "
              f"{int(effective[d.name].sum()):>10,}{flag}")
    collapsed = [d.name for d in layers if d.collapsed]
    print(f"achieved sparsity {achieved_sparsity(result.masks):.6f} "
          f"({sum(d.kept for d in layers):,} of {sum(d.total for d in layers):,} weights kept)")
    print(f"effective sparsity {achieved_sparsity(effective):.6f} (kept weights on no "
          "input-output path count as pruned; Vysogorets & Kempe 2023)")
    print(f"collapsed layers: {len(collapsed)}" + (f" ({', '.join(collapsed)})" if collapsed
                                                  else ""))
    print(f"scoring: {result.usage.seconds:.2f} s, {result.rounds} round(s), peak memory "
          f"{result.usage.peak_memory_mb:.0f} MiB ({result.usage.memory_kind}), device {device}")
    if args.out:
        torch.save({"masks": {n: m.bool().cpu() for n, m in result.masks.items()},
                    "method": args.method, "options": result.options, "model": args.model,
                    "dataset": data.name, "sparsity": args.sparsity, "scope": args.scope},
                   args.out)
        print(f"masks written to {args.out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import signal

    from pai_bench.runner import Runner, plan
    from pai_bench.suite import load_suite
    from pai_bench.tracking import Tracker, absolute_uri
    from pai_bench.worker import WorkerConfig

    _check_executor(args)

    suite = load_suite(args.suite, args.set, args.filter)
    if args.overrides:
        from pai_bench.overrides import apply_override_file

        suite = apply_override_file(suite, args.overrides)
    tracker = Tracker(suite.name, tracking_uri=args.tracking_uri)
    the_plan = plan(suite.specs, tracker)
    print(f"suite '{suite.name}' ({args.suite}) → experiment '{suite.name}' in "
          f"{tracker.tracking_uri}, device {args.device}")
    print(the_plan.describe())
    if args.dry_run:
        return 0

    def terminate(signum: int, frame: object) -> None:  # a cluster's SIGTERM acts as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    config = WorkerConfig(suite.name, absolute_uri(tracker.tracking_uri), device=args.device,
                          data_dir=args.data_dir.resolve() if args.data_dir else None,
                          threads=args.threads)
    progress = not args.no_progress
    if args.executor == "ray":
        from pai_bench.ray_executor import run_ray
        from pai_bench.store_lock import local_store

        if args.address and local_store(config.tracking_uri) is not None:
            print(f"note: runs on other nodes cannot write to {config.tracking_uri}; give every "
                  "node one MLflow server with --tracking-uri http://HOST:5000")
        summary = run_ray(the_plan, config, address=args.address,
                          cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                          max_retries=args.max_retries, progress=progress)
    elif args.workers > 1:
        from pai_bench.local_pool import run_processes

        summary = run_processes(the_plan, config, workers=args.workers, progress=progress)
    else:
        summary = Runner(config, progress=progress).run(the_plan)
    print(summary.describe())
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0


def _check_executor(args: argparse.Namespace) -> None:
    """Executor flags that cannot work, refused before anything runs."""
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: use 1 or more worker processes")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: use 1 or more CPU threads per run")
    if args.executor == "ray":
        from pai_bench.ray_executor import import_ray

        import_ray()  # says how to install it
        if args.workers != 1:
            raise ConfigError("--workers is for --executor local; Ray sizes runs with "
                              "--cpus-per-run and --gpus-per-run")
        if args.cpus_per_run <= 0 or args.gpus_per_run < 0:
            raise ConfigError("--cpus-per-run must be > 0 and --gpus-per-run >= 0 "
                              "(fractions allowed, e.g. --gpus-per-run 0.5)")
    elif args.address or args.gpus_per_run or args.cpus_per_run != 1:
        raise ConfigError("--address, --cpus-per-run and --gpus-per-run need --executor ray")


def cmd_collapse(args: argparse.Namespace) -> int:
    import datetime

    import torch

    from pai_bench.collapse import critical_compression, write_report
    from pai_bench.data import load_dataset
    from pai_bench.method import METHODS, make_method
    from pai_bench.models import build_model
    from pai_bench.tracking import describe_device, git_commit

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        METHODS.get(m)  # unknown names fail here, before any work
    try:
        seeds = [int(s) for s in str(args.seeds).split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds!r}: use comma-separated integers, "
                          "e.g. --seeds 0,1,2") from None
    if args.step <= 0 or args.max < 0:
        raise ConfigError(f"--max {args.max} --step {args.step}: the grid 10^0 … 10^max needs "
                          "max >= 0 and step > 0, e.g. --max 6 --step 0.25")
    data = load_dataset(args.dataset, root=args.data_dir,
                        **parse_assignments(args.dataset_option, "--dataset-option"))
    build_model(args.model, num_classes=data.num_classes, input_shape=data.input_shape)
    commit = git_commit()  # the code the results come from, read before the long work
    extra = parse_assignments(args.option, "--option")
    results = []
    for method in methods:
        fields = set(make_method(method).options())
        options = {"rounds": args.rounds} if "rounds" in fields else {}
        options.update({k: v for k, v in extra.items() if k in fields})
        for seed in seeds:
            r = critical_compression(method, args.model, data, seed, max_log10=args.max,
                                     step=args.step, samples=args.samples, device=args.device,
                                     init=args.init, prune_classifier=args.prune_classifier,
                                     **options)
            print(f"{method:<10} seed {seed}: critical compression 10^{r.log10_critical:.2f} "
                  f"({len(r.points)} points evaluated)", flush=True)
            results.append(r)
    out = args.out or Path("leaderboard") / "collapse"
    provenance = [
        f"model {args.model} ({args.init} initialization, classifier "
        f"{'pruned' if args.prune_classifier else 'dense'}), data {data.name} ({data.description})",
        f"scoring samples {args.samples}; SynFlow rounds {args.rounds}; grid 10^0 … 10^{args.max}"
        f" in steps of {args.step}" + (f"; options {extra}" if extra else ""),
        f"git commit {commit}, device {describe_device(torch.device(args.device))}, "
        f"torch {torch.__version__}",
        f"generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        "command: pai-bench collapse " + " ".join(sys.argv[2:]),
    ]
    files = write_report(results, Path(out), title=f"Layer collapse: {args.model} / {data.name}",
                         provenance=provenance)
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_device(device: str) -> str:
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available here; use --device cpu")
    return device


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pai-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list registered methods, models or data sets")
    p.add_argument("what", choices=["methods", "models", "datasets"])
    p.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard, e.g. 'vgg*'")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("score", help="score a model with a method and report its mask")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--sparsity", required=True, type=float)
    p.add_argument("--samples", type=int, default=256, help="scoring samples (default 256)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--scope", choices=["global", "layer"], default="global")
    p.add_argument("--prune-classifier", action="store_true")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, e.g. --option mask_batch=4 (repeatable)")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--seed", type=int, default=0)
    add_device_options(p)
    p.add_argument("--out", type=Path, default=None, help="save the masks (torch.save)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("run", help="run a suite: warm-up, prune, train, log to MLflow")
    p.add_argument("suite", type=Path, help="suite file, e.g. suites/quickstart.yaml")
    add_suite_options(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (counts by axis, done, to run) and stop")
    add_device_options(p)
    add_tracking_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: this machine; ray: one Ray task per run (pai-bench[ray])")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes, one GPU each on a multi-GPU machine (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per run (default: the cores / workers); CPU results "
                        "depend on it, so keep it fixed to compare runs")
    p.add_argument("--address", default=None,
                   help="Ray cluster: 'auto' (the running one) or 'ray://host:10001' "
                        "(default: start a local Ray instance)")
    p.add_argument("--cpus-per-run", type=float, default=1, help="Ray CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0,
                   help="Ray GPUs per run, fractions allowed (default 0: CPU)")
    p.add_argument("--max-retries", type=int, default=3,
                   help="Ray retries of a run whose worker died (default 3)")
    p.add_argument("--overrides", type=Path, default=None, metavar="FILE",
                   help="tuned training options for the runs they match (pai-bench tune --out)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("collapse", help="critical compression per method and seed, at init")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--methods", default="synflow,snip,grasp,magnitude,random",
                   help="comma-separated method names")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--max", type=float, default=6.0, help="largest log10 compression")
    p.add_argument("--step", type=float, default=0.25, help="grid step in decades")
    p.add_argument("--samples", type=int, default=100, help="scoring samples")
    p.add_argument("--rounds", type=int, default=100, help="SynFlow rounds per target")
    p.add_argument("--init", choices=["default", "kaiming_normal"], default="default",
                   help="weight initialization: PyTorch's defaults (the FTS protocol's) or the "
                        "Synaptic-Flow code's kaiming_normal with zero biases")
    p.add_argument("--prune-classifier", action="store_true",
                   help="the output layer is prunable too (the SynFlow paper's setup)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, given to every method that has it, e.g. bias_flow=false")
    p.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE")
    add_device_options(p)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: leaderboard/collapse)")
    p.set_defaults(func=cmd_collapse)

    from pai_bench.leaderboard import add_arguments, cmd_leaderboard

    p = sub.add_parser("leaderboard", help="tables and figures from a suite's runs")
    add_arguments(p)
    p.set_defaults(func=cmd_leaderboard)

    from pai_bench.tune import add_arguments as add_tune_arguments
    from pai_bench.tune import cmd_tune

    p = sub.add_parser("tune", help="tune a method's training options on the validation split")
    add_tune_arguments(p)
    p.set_defaults(func=cmd_tune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "device", "") is None:
        args.device = _default_device()
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "device", None) is not None:
            _check_device(args.device)
        return func(args)
    except PaiBenchError as exc:
        if args.debug:
            raise
        print(f"pai-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pai-bench: interrupted", file=sys.stderr)
        return 130
