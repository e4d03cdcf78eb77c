"""One run per key, however many processes submit it: claim, heartbeat, take over lost runs.

Every executor (one process, `--workers N`, Ray tasks, two people submitting the same suite) goes
through `claim` before running a key, with the MLflow store as the only shared state:

1. A key with a FINISHED run is done: nothing to claim.
2. A RUNNING run of the key is *live* unless it is lost: its owner (host:pid) is a dead process on
   this host, it belongs to an earlier attempt of the same task (a Ray retry after its worker
   died), or its heartbeat is older than the lease. A live run elsewhere means: skip the key.
3. Otherwise create our RUNNING run, then read the key's runs again; if a rival live claim is
   older (start time, then run id), delete ours and skip. On a store of this machine (SQLite, a
   file store) steps 1-3 hold the key's file lock, so they are atomic for every process here. On
   a server the second read waits `Lease.settle_s` (2 s) first: two claimants then agree on one
   winner unless a rival's write takes 2 s longer than ours or the clocks disagree by more; and
   a run that finds another FINISHED run of its key when it ends is recorded KILLED, not
   FINISHED ("duplicate of …"), so the key still has one FINISHED run.
4. The winner marks the lost runs FAILED ("lost: …, taken over by run …") and records its attempt
   number and the run it retries, so the store says when a lost worker was covered by a retry.

A daemon thread refreshes the heartbeat tag while the run is alive.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass

import torch
from mlflow.entities import Run

from pai_bench.spec import RunSpec
from pai_bench.store_lock import key_lock, local_store
from pai_bench.tracking import KEY_TAG, TrackedRun, Tracker

OWNER_TAG = "pai_bench.owner"  # host:pid of the process running it
TASK_TAG = "pai_bench.task"  # the submitter's id for this key; the same across Ray's retries
HEARTBEAT_TAG = "pai_bench.heartbeat"  # unix seconds, refreshed while the run is alive
ATTEMPT_TAG = "pai_bench.attempt"
RETRY_OF_TAG = "pai_bench.retry_of"


@dataclass(frozen=True)
class Lease:
    """How often a live run proves it is alive, and how long silence means it is lost."""

    heartbeat_s: float = 30.0
    timeout_s: float = 600.0
    settle_s: float = 2.0  # a server store: wait this long before the claim's second read


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def lost_reason(run: Run, *, task: str, lease: Lease, now: float | None = None) -> str | None:
    """Why a RUNNING run is lost, or None when it may still be alive."""
    tags = run.data.tags
    host, _, pid = tags.get(OWNER_TAG, ":").rpartition(":")
    if tags.get(TASK_TAG) == task:
        return f"its worker {tags.get(OWNER_TAG)} died; this task was retried"
    if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
        return f"its process {tags.get(OWNER_TAG)} is gone"
    beat = float(tags.get(HEARTBEAT_TAG, run.info.start_time / 1000))
    silent = (now or time.time()) - beat
    if silent > lease.timeout_s:
        return f"no heartbeat from {tags.get(OWNER_TAG)} for {silent:.0f} s"
    return None


def _order(run: Run) -> tuple[int, str]:
    return run.info.start_time, run.info.run_id


class Claimed:
    """A claimed run: the tracked MLflow run plus its heartbeat thread (stop it when done)."""

    def __init__(self, tracked: TrackedRun, lease: Lease) -> None:
        self.tracked = tracked
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(lease.heartbeat_s,),
                                        daemon=True, name=f"heartbeat-{tracked.run_id[:8]}")
        self._thread.start()

    def _beat(self, every: float) -> None:
        client, run_id = self.tracked.client, self.tracked.run_id
        while not self._stop.wait(every):
            # a missed beat only shortens the lease; the run goes on
            with contextlib.suppress(Exception):
                client.set_tag(run_id, HEARTBEAT_TAG, f"{time.time():.0f}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def claim(tracker: Tracker, spec: RunSpec, *, suite: str, device: torch.device, task: str,
          lease: Lease = Lease(), extra_tags: dict[str, str] | None = None
          ) -> Claimed | str:
    """Claim `spec`'s key for this process; returns the claimed run, or why it was not claimed.
    On a store of this machine the claim holds the key's file lock (atomic); on a server it
    re-reads after `lease.settle_s`, so that a rival's slower write is seen before deciding."""
    with key_lock(tracker.tracking_uri, spec.key):
        return _claim(tracker, spec, suite=suite, device=device, task=task, lease=lease,
                      extra_tags=extra_tags)


def _claim(tracker: Tracker, spec: RunSpec, *, suite: str, device: torch.device, task: str,
           lease: Lease, extra_tags: dict[str, str] | None) -> Claimed | str:
    before = tracker.runs_of_key(spec.key)
    if any(r.info.status == "FINISHED" for r in before):
        return "finished"
    if any(r.info.status == "RUNNING" and lost_reason(r, task=task, lease=lease) is None
           for r in before):
        return "running elsewhere"

    tags = {OWNER_TAG: owner(), TASK_TAG: task, HEARTBEAT_TAG: f"{time.time():.0f}",
            **(extra_tags or {})}
    tracked = tracker.start(spec, suite=suite, device=device, extra_tags=tags)
    try:
        return _decide(tracker, spec, tracked, task=task, lease=lease)
    except KeyboardInterrupt as exc:  # Ctrl-C while claiming: the new run must not stay RUNNING
        tracked.fail(exc, status="KILLED")
        raise


def _decide(tracker: Tracker, spec: RunSpec, tracked: TrackedRun, *, task: str, lease: Lease
            ) -> Claimed | str:
    """Keep our new run of the key, or delete it when an older live one exists."""
    if local_store(tracker.tracking_uri) is None:
        time.sleep(lease.settle_s)
    mine = tracker.client.get_run(tracked.run_id)
    others = [r for r in tracker.runs_of_key(spec.key) if r.info.run_id != tracked.run_id]
    lost = {r.info.run_id: lost_reason(r, task=task, lease=lease)
            for r in others if r.info.status == "RUNNING"}
    live = [r for r in others if r.info.run_id in lost and lost[r.info.run_id] is None]
    if any(r.info.status == "FINISHED" for r in others) or any(
            _order(r) < _order(mine) for r in live):
        tracker.client.delete_run(tracked.run_id)  # it never did any work
        return "running elsewhere"

    earlier = [r for r in others if r not in live]  # live ones are younger: they back off
    for run_id, reason in lost.items():
        if reason:
            tracker.client.set_tag(run_id, "pai_bench.error",
                                   f"lost: {reason}; taken over by run {tracked.run_id}")
            tracker.client.set_terminated(run_id, "FAILED")
    tracker.client.set_tag(tracked.run_id, ATTEMPT_TAG, str(len(earlier) + 1))
    if earlier:
        tracker.client.set_tag(tracked.run_id, RETRY_OF_TAG, max(earlier, key=_order).info.run_id)
    return Claimed(tracked, lease)


def other_finished(tracker: Tracker, spec: RunSpec, run_id: str) -> str | None:
    """The id of another FINISHED run of the key, if one appeared while ours ran."""
    return next((r.info.run_id for r in tracker.runs_of_key(spec.key)
                 if r.info.status == "FINISHED" and r.info.run_id != run_id), None)


__all__ = ["KEY_TAG", "Claimed", "Lease", "claim", "lost_reason", "other_finished", "owner"]
