"""One pipe per worker between the supervisor and its workers, read without ever blocking.

Why not one shared ``multiprocessing.Queue``: a process killed while it writes to a shared queue can leave
its lock held or a half-written message in the shared pipe, which stalls or corrupts the queue for every
other worker (Python's documentation warns of this). With one pipe per worker a kill can only damage that
worker's own pipe. The supervisor reads all pipes with non-blocking reads and a timeout on the wait, keeps
a partial message until its last byte arrives, and when a pipe closes (its worker exited or was killed)
drops whatever partial message is left. A stopped or killed worker therefore never holds up the others.

Frames are an 8-byte big-endian length followed by a pickle.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
_CHUNK = 1 << 16


def send(conn: Connection, message: Any) -> None:
    """Worker side: write one message (blocks while the pipe is full; the supervisor keeps draining it)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    fd = conn.fileno()
    while view:
        view = view[os.write(fd, view):]


class _Link:
    def __init__(self, reader: Connection) -> None:
        self.reader = reader
        self.buffer = bytearray()
        os.set_blocking(reader.fileno(), False)


class WorkerLinks:
    """Supervisor side: ``open(w)`` gives the end to hand to worker ``w``; ``receive`` returns messages."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self._links: dict[int, _Link] = {}
        self._child_ends: dict[int, Connection] = {}

    def open(self, worker: int) -> Connection:
        """A fresh pipe for ``worker`` (a restarted worker gets a new one; the old one is dropped)."""
        self._drop(worker)
        reader, writer = self._ctx.Pipe(duplex=False)
        self._links[worker] = _Link(reader)
        self._child_ends[worker] = writer
        return writer

    def started(self, worker: int) -> None:
        """Close our copy of the worker's end once it has started, so its exit reads as end-of-file."""
        end = self._child_ends.pop(worker, None)
        if end is not None:
            end.close()

    def pending_bytes(self, worker: int) -> int:
        """Bytes of an incomplete message from ``worker`` held so far."""
        link = self._links.get(worker)
        return len(link.buffer) if link is not None else 0

    def is_open(self, worker: int) -> bool:
        return worker in self._links

    def receive(self, timeout: float, wake: Sequence[Any] = ()) -> list[tuple[int, Any]]:
        """Complete messages from every worker, as (worker, message); waits at most ``timeout`` seconds, less
        when one of ``wake`` (e.g. a process's ``sentinel``) becomes ready."""
        by_reader = {link.reader: w for w, link in self._links.items()}
        if not by_reader and not wake:
            time.sleep(timeout)
            return []
        out: list[tuple[int, Any]] = []
        for ready in wait([*by_reader, *wake], timeout=timeout):
            w = by_reader.get(ready)  # type: ignore[call-overload]
            if w is not None:
                out += self._drain(w)
        return out

    def _drain(self, worker: int) -> list[tuple[int, Any]]:
        link = self._links[worker]
        closed = False
        while True:
            try:
                chunk = os.read(link.reader.fileno(), _CHUNK)
            except BlockingIOError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            link.buffer += chunk
        out: list[tuple[int, Any]] = []
        buf = link.buffer
        while len(buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buf)
            if len(buf) < _HEADER.size + size:
                break
            payload = bytes(buf[_HEADER.size:_HEADER.size + size])
            del buf[:_HEADER.size + size]
            try:
                out.append((worker, pickle.loads(payload)))
            except Exception as exc:  # a damaged pipe: this worker's messages cannot be trusted any more
                log.warning("worker %d sent an unreadable message (%s); ignoring its pipe", worker, exc)
                closed = True
                break
        if closed:
            if link.buffer:
                log.warning("worker %d's pipe closed in the middle of a message (%d bytes dropped)",
                            worker, len(link.buffer))
            self._drop(worker)
        return out

    def _drop(self, worker: int) -> None:
        link = self._links.pop(worker, None)
        if link is not None:
            link.reader.close()
        end = self._child_ends.pop(worker, None)
        if end is not None:
            end.close()

    def close(self) -> None:
        for w in list(self._links) + list(self._child_ends):
            self._drop(w)
