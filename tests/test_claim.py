"""One run per key across processes: a live run elsewhere is left alone, a lost one is taken
over and the record says so, and of two racing claims the older one wins."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from pai_bench.claim import (
    ATTEMPT_TAG,
    HEARTBEAT_TAG,
    OWNER_TAG,
    RETRY_OF_TAG,
    TASK_TAG,
    Lease,
    claim,
)
from pai_bench.spec import RunSpec
from pai_bench.tracking import Tracker

SPEC = RunSpec(model="mlp", dataset="digits", method="snip", sparsity=0.9, warmup_epochs=0, seed=0)
CPU = torch.device("cpu")


@pytest.fixture
def tracker(tmp_path):
    return Tracker("claims", tracking_uri=f"sqlite:///{tmp_path / 'store.db'}")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def rival(tracker: Tracker, *, owner: str, task: str = "other/task",
          heartbeat: float | None = None) -> str:
    """A RUNNING run of SPEC's key as another process would have left it."""
    run = tracker.start(SPEC, suite="claims", device=CPU, extra_tags={
        OWNER_TAG: owner, TASK_TAG: task, HEARTBEAT_TAG: f"{heartbeat or time.time():.0f}"})
    return run.run_id


def status(tracker: Tracker, run_id: str) -> str:
    return tracker.client.get_run(run_id).info.status


def host() -> str:
    import socket

    return socket.gethostname()


def test_a_live_run_elsewhere_is_left_alone(tracker):
    other = rival(tracker, owner=f"{host()}:{__import__('os').getpid()}")  # alive: this process
    assert claim(tracker, SPEC, suite="claims", device=CPU, task="mine") == "running elsewhere"
    assert [r.info.run_id for r in tracker.runs_of_key(SPEC.key)] == [other]
    assert status(tracker, other) == "RUNNING"


def test_a_finished_key_is_not_claimed(tracker):
    run_id = rival(tracker, owner="elsewhere:1")
    tracker.client.set_terminated(run_id, "FINISHED")
    assert claim(tracker, SPEC, suite="claims", device=CPU, task="mine") == "finished"


@pytest.mark.parametrize("how", ["dead process on this host", "same task (a Ray retry)",
                                 "silent beyond the lease"])
def test_a_lost_run_is_taken_over_and_the_record_says_so(tracker, how):
    import os

    if how == "dead process on this host":
        lost = rival(tracker, owner=f"{host()}:{dead_pid()}")
    elif how == "same task (a Ray retry)":  # its worker pid may even be reused: the task decides
        lost = rival(tracker, owner=f"{host()}:{os.getpid()}", task="mine")
    else:
        lost = rival(tracker, owner="other-host:123", heartbeat=time.time() - 100)
    claimed = claim(tracker, SPEC, suite="claims", device=CPU, task="mine",
                    lease=Lease(heartbeat_s=60, timeout_s=50))
    assert not isinstance(claimed, str), claimed
    claimed.stop()
    old = tracker.client.get_run(lost)
    assert old.info.status == "FAILED"
    assert old.data.tags["pai_bench.error"].startswith("lost: ")
    assert claimed.tracked.run_id in old.data.tags["pai_bench.error"]
    tags = tracker.client.get_run(claimed.tracked.run_id).data.tags
    assert tags[ATTEMPT_TAG] == "2" and tags[RETRY_OF_TAG] == lost


def test_a_recent_heartbeat_elsewhere_keeps_the_run(tracker):
    other = rival(tracker, owner="other-host:123", heartbeat=time.time() - 10)
    assert claim(tracker, SPEC, suite="claims", device=CPU, task="mine",
                 lease=Lease(timeout_s=50)) == "running elsewhere"
    assert status(tracker, other) == "RUNNING"


class BlindFirstRead(Tracker):
    """A tracker whose first read of the key misses a rival that claimed at the same moment."""

    blind = True

    def runs_of_key(self, key):
        if self.blind:
            self.blind = False
            return []
        return super().runs_of_key(key)


def test_of_two_racing_claims_the_older_wins(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    older = rival(Tracker("claims", tracking_uri=uri), owner="other-host:1")
    late = BlindFirstRead("claims", tracking_uri=uri)
    assert claim(late, SPEC, suite="claims", device=CPU, task="mine") == "running elsewhere"
    runs = late.runs_of_key(SPEC.key)  # the loser deleted its run: the store shows one claim
    assert [r.info.run_id for r in runs] == [older]


def test_the_winner_of_a_race_keeps_its_run_and_the_younger_rival_is_not_marked_lost(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    first = BlindFirstRead("claims", tracking_uri=uri)
    claimed = claim(first, SPEC, suite="claims", device=CPU, task="mine")
    assert not isinstance(claimed, str)
    claimed.stop()
    younger = rival(first, owner="other-host:1")  # it will find `claimed` older and back off
    assert status(first, younger) == "RUNNING"
    assert first.client.get_run(claimed.tracked.run_id).data.tags[ATTEMPT_TAG] == "1"


def test_the_heartbeat_thread_refreshes_the_tag(tracker):
    claimed = claim(tracker, SPEC, suite="claims", device=CPU, task="mine",
                    lease=Lease(heartbeat_s=0.2, timeout_s=5))
    assert not isinstance(claimed, str)
    first = float(tracker.client.get_run(claimed.tracked.run_id).data.tags[HEARTBEAT_TAG])
    deadline = time.time() + 10
    while time.time() < deadline:
        time.sleep(0.3)
        beat = float(tracker.client.get_run(claimed.tracked.run_id).data.tags[HEARTBEAT_TAG])
        if beat > first:
            break
    claimed.stop()
    assert beat > first


def test_on_a_server_a_rivals_slow_write_is_seen_before_deciding(tracker, monkeypatch):
    """A rival took its timestamp first but its write lands while we settle: we back off."""
    import pai_bench.claim as claim_module

    monkeypatch.setattr(claim_module, "local_store", lambda url: None)  # as if http://
    started = int(time.time() * 1000) - 500  # the rival's clock read, before ours
    slept = []

    def slow_rival_lands(seconds: float) -> None:
        slept.append(seconds)
        run = tracker.client.create_run(tracker.experiment_id, start_time=started, tags={
            "pai_bench.run_key": SPEC.key, OWNER_TAG: "other-host:1", TASK_TAG: "theirs",
            HEARTBEAT_TAG: f"{time.time():.0f}"})
        assert run.info.start_time == started

    monkeypatch.setattr(claim_module.time, "sleep", slow_rival_lands)
    got = claim(tracker, SPEC, suite="claims", device=CPU, task="mine",
                lease=Lease(settle_s=0.25))
    assert got == "running elsewhere" and slept == [0.25]
    runs = tracker.runs_of_key(SPEC.key)
    assert [r.data.tags[TASK_TAG] for r in runs] == ["theirs"]  # ours was deleted


class InterruptedSecondRead(Tracker):
    """Ctrl-C arrives while the claim re-reads the store, after its run was created."""

    reads = 0

    def runs_of_key(self, key):
        self.reads += 1
        if self.reads == 2:
            raise KeyboardInterrupt
        return super().runs_of_key(key)


def test_ctrl_c_while_claiming_leaves_the_new_run_killed(tmp_path):
    tracker = InterruptedSecondRead("claims", tracking_uri=f"sqlite:///{tmp_path / 'store.db'}")
    with pytest.raises(KeyboardInterrupt):
        claim(tracker, SPEC, suite="claims", device=CPU, task="mine")
    assert [r.info.status for r in Tracker.runs_of_key(tracker, SPEC.key)] == ["KILLED"]
