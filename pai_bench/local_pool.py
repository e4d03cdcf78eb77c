"""`pai-bench run --workers N`: N worker processes on this machine, each pinned to its own GPU.

The parent hands one spec at a time to an idle worker (a `Worker` in a spawned process) and
collects outcomes. A worker that dies mid-run (OOM killer, SIGKILL) is replaced and its spec is
retried once under the same task id, so the retry's claim marks the lost run FAILED and records
itself as attempt 2. Ctrl-C or SIGTERM: each worker marks its current run KILLED and stops.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from collections import deque
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess

from tqdm.auto import tqdm

from pai_bench.runner import Plan, Summary, task_ids
from pai_bench.spec import RunSpec
from pai_bench.worker import Outcome, Worker, WorkerConfig


def _interrupt(signum: int, frame: object) -> None:
    # the first Ctrl-C or SIGTERM stops the run; later ones must not cut its KILLED record short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _serve(index: int, config: WorkerConfig, gpu: str | None, inbox: mp.Queue,
           outbox: mp.Queue) -> None:
    """A worker process: run what the inbox says until it says None."""
    if gpu is not None:  # before anything touches CUDA: this process sees one GPU, as cuda:0
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        worker = Worker(config)
        while (item := inbox.get()) is not None:
            spec, task = item
            try:
                outcome = worker.run(spec, task)
            except KeyboardInterrupt:
                outbox.put((index, Outcome(spec.key, "killed")))
                return
            outbox.put((index, outcome))
    except KeyboardInterrupt:  # interrupted while idle
        return


@dataclass
class _Slot:
    process: BaseProcess
    inbox: mp.Queue
    job: tuple[RunSpec, str, int] | None = None  # spec, task id, attempt


def gpu_ids(device: str, workers: int) -> list[str | None]:
    """The GPU each worker gets, as a CUDA_VISIBLE_DEVICES entry: round robin over the GPUs this
    process sees (its own CUDA_VISIBLE_DEVICES, e.g. a scheduler's "2,3", is respected)."""
    if not device.startswith("cuda"):
        return [None] * workers
    import torch

    count = torch.cuda.device_count()
    if not count:
        return [None] * workers
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
    ids = visible[:count] if len([v for v in visible if v.strip()]) >= count else [
        str(i) for i in range(count)]
    return [ids[i % count].strip() for i in range(workers)]


def run_processes(the_plan: Plan, config: WorkerConfig, *, workers: int, retries: int = 1,
                  progress: bool = True) -> Summary:
    """Run the plan's to-do specs on `workers` processes; see the module docstring."""
    cpus = os.cpu_count() or 1
    gpus = gpu_ids(config.device, workers)
    config = replace(config, threads=config.threads or max(1, cpus // workers))
    if gpus[0] is not None:
        config = replace(config, device="cuda")
    ctx = mp.get_context("spawn")  # CUDA and threads do not survive fork
    outbox: mp.Queue = ctx.Queue()
    summary = Summary(skipped=len(the_plan.done))
    tasks = task_ids(the_plan.todo)
    pending = deque((s, tasks[s.key], 1) for s in the_plan.todo)
    bar = tqdm(total=len(pending), desc=f"{config.suite} ×{workers}", unit="run",
               disable=not progress)

    def start(index: int) -> _Slot:
        inbox: mp.Queue = ctx.Queue()
        process = ctx.Process(target=_serve, args=(index, config, gpus[index], inbox, outbox),
                              name=f"pai-bench-worker-{index}", daemon=True)
        process.start()
        return _Slot(process, inbox)

    slots = [start(i) for i in range(min(workers, len(pending)))]
    try:
        while pending or any(s.job for s in slots):
            for slot in slots:
                if slot.job is None and pending:
                    slot.job = pending.popleft()
                    slot.inbox.put(slot.job[:2])
            try:
                index, outcome = outbox.get(timeout=1.0)
            except queue.Empty:
                for index, slot in enumerate(slots):
                    if slot.job and not slot.process.is_alive():
                        spec, task, attempt = slot.job
                        note = f"worker process died (exit code {slot.process.exitcode})"
                        if attempt <= retries:
                            bar.write(f"{note} running {spec.key}; retrying it")
                            pending.appendleft((spec, task, attempt + 1))
                        else:
                            summary.record(spec, Outcome(spec.key, "failed", note), bar)
                        slots[index] = start(index)
                continue
            spec = slots[index].job[0]
            slots[index].job = None
            summary.record(spec, outcome, bar)
            if outcome.status == "killed":
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        summary.interrupted = True
        for slot in slots:  # Ctrl-C reached them already; SIGTERM to the parent did not
            if slot.process.is_alive():
                slot.process.terminate()
        _drain(outbox, slots, summary)
    finally:
        for slot in slots:
            if slot.process.is_alive():
                slot.inbox.put(None)
        for slot in slots:
            slot.process.join(timeout=30)
        bar.close()
    return summary


def _drain(outbox: mp.Queue, slots: list[_Slot], summary: Summary) -> None:
    """Collect the interrupted workers' last outcomes (their runs are marked KILLED); a worker
    that exits without one was idle (its job not yet picked up) and has nothing to report."""
    deadline = time.monotonic() + 60
    while any(s.job for s in slots) and time.monotonic() < deadline:
        try:
            index, outcome = outbox.get(timeout=0.5)
        except queue.Empty:
            for slot in slots:
                if slot.job and not slot.process.is_alive():
                    slot.job = None
            continue
        spec = slots[index].job[0] if slots[index].job else None
        slots[index].job = None
        if spec is not None and outcome.status != "killed":
            summary.record(spec, outcome)
