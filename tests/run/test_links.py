"""Per-worker pipes: a worker killed (or stopped) in the middle of a message harms no other worker.

Real spawned processes and real signals. The victim sends one 32 MiB message; once the supervisor side
holds part of it, the victim is certainly inside its write (a pipe holds 64 KiB), and is then killed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest

from mimicforge.run.links import WorkerLinks, send

pytestmark = pytest.mark.timeout(120)

BIG = 32 << 20


def _sender(link, worker: int, count: int, size: int, pause: float) -> None:
    for i in range(count):
        send(link, ("msg", worker, i, b"x" * size))
        time.sleep(pause)


def _start(ctx, links, worker, *args):
    p = ctx.Process(target=_sender, args=(links.open(worker), worker, *args))
    p.start()
    links.started(worker)
    return p


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_worker_killed_mid_send_harms_no_other(sig):
    ctx = mp.get_context("spawn")
    links = WorkerLinks(ctx)
    victim = _start(ctx, links, 0, 1, BIG, 0.0)
    others = [_start(ctx, links, w, 100, 1024, 0.01) for w in (1, 2)]
    got: dict[int, list[int]] = {0: [], 1: [], 2: []}
    slowest = 0.0

    def pump():
        nonlocal slowest
        t = time.monotonic()
        for w, (kind, sender, i, payload) in links.receive(timeout=0.2):
            assert kind == "msg" and sender == w
            assert payload == b"x" * (BIG if w == 0 else 1024)
            got[w].append(i)
        slowest = max(slowest, time.monotonic() - t)

    try:
        deadline = time.monotonic() + 60
        while links.pending_bytes(0) == 0:
            assert time.monotonic() < deadline, "the victim never started sending"
            pump()
        os.kill(victim.pid, sig)  # mid-message: most of the 32 MiB is still unsent
        while (links.is_open(1) or links.is_open(2)) and time.monotonic() < deadline:
            pump()
        assert got[1] == list(range(100)) and got[2] == list(range(100))  # all of them, intact, in order
        assert got[0] == []  # the partial message is never delivered
        assert slowest < 2.0  # no wait ever blocked on the victim's half-written message
        if sig == signal.SIGKILL:
            victim.join(10)
            pump()
            assert not links.is_open(0)  # its closed pipe was dropped, with the partial message
    finally:
        for p in [victim, *others]:
            if p.exitcode is None:
                p.kill()
            p.join(10)
        links.close()
