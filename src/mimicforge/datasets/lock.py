"""One writer per output: an advisory lock on ``.name.hdf5.lock`` beside the dataset, naming its holder.

A run holds it from its start through its finish (``run.dispatch.generate``), the dataset writer while it is open,
``merge`` and ``cosmos ingest`` while they write. Within one process the lock is re-entrant (a run that holds it
opens its writers freely); another process is refused in one line naming the holder's pid. The lock is
``flock``-based, so the kernel drops it when its holder dies: the lock of a killed run is simply taken over (the
file's stale pid is overwritten).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mimicforge.errors import OutputExistsError

@dataclass
class _Hold:
    fd: int
    holders: int  # acquisitions in this process
    writer: bool  # a dataset writer has the file open (at most one, also within this process)


_held: dict[Path, _Hold] = {}  # lock file -> this process's hold
_guard = threading.Lock()


def lock_path(dataset: str | os.PathLike[str]) -> Path:
    p = Path(dataset)
    return p.with_name(f".{p.name}.lock")


def holder(dataset: str | os.PathLike[str]) -> int | None:
    """The pid written into the lock file by its last holder (alive or not), if any."""
    try:
        text = lock_path(dataset).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def acquire(dataset: str | os.PathLike[str], *, writer: bool = False) -> Path:
    """Take the lock of ``dataset`` (its folder must exist); returns the key to ``release`` it with. ``writer``: for
    a dataset writer, which is refused while another writer of this process has the file open."""
    key = lock_path(dataset).absolute()
    with _guard:
        hold = _held.get(key)
        if hold is not None:
            if writer and hold.writer:
                raise OutputExistsError(f"{dataset} is being written by another writer in this process "
                                        f"(pid {os.getpid()}); close it first")
            hold.holders += 1
            hold.writer = hold.writer or writer
            return key
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                pid = holder(dataset)
                who = f" (pid {pid})" if pid is not None else ""
                raise OutputExistsError(
                    f"{dataset} is being written by another process{who}; wait for it to finish or "
                    "stop it, or choose another output"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _held[key] = _Hold(fd, 1, writer)
        return key


def release(key: Path, *, writer: bool = False) -> None:
    with _guard:
        hold = _held.get(key)
        if hold is None:
            return
        hold.holders -= 1
        if writer:
            hold.writer = False
        if hold.holders <= 0:
            # The file stays: unlinking it would let a later writer lock a fresh inode while a waiting one
            # still holds the old.
            os.close(hold.fd)
            del _held[key]


@contextlib.contextmanager
def held(dataset: str | os.PathLike[str]) -> Iterator[None]:
    """``with held(OUT):`` this process is the one writer of ``OUT`` (and the files beside it) meanwhile."""
    key = acquire(dataset)
    try:
        yield
    finally:
        release(key)
