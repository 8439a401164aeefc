"""The edge journal's files next to it: the writer lock, atomic rewrites, the quarantine.

* `<journal>.lock`: `WriterLock`, held for the length of one write operation.
* `<journal>.compact`: the temp file of a rewrite (compaction, quarantine); removed when the
  rewrite fails, and a stale one left by a crash is removed by the next writer.
* `<journal>.quarantine` (rotated to `.quarantine.1` past `QUARANTINE_MAX_BYTES`): lines
  moved out of the journal, one record each in the journal's own framing
  (`<crc32> <json>\\n`): `{"kind": "quarantined", "line", "offset", "length", "reason",
  "complete", "bytes_b64", "journal_size"}` (`complete` false when only the first bytes were
  kept), plus `{"kind": "quarantine_overflow", "lines", "after_line"}` when a scan found more
  bad lines than it lists.
"""

from __future__ import annotations

import base64
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from autoscaler.edge.journal_format import JournalError, Scan, encode_line

QUARANTINE_MAX_BYTES = 1024 * 1024
LOCK_POLL_MAX_SECONDS = 0.02


def sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class WriterLock:
    """One writer at a time, across threads and processes: a mutex (flock belongs to the
    open file description, which this process's threads share) and flock on `<journal>.lock`,
    a file never replaced, so the lock outlives compaction's rename. flock cannot time out,
    so a busy lock is polled until `timeout_seconds`, then the operation is refused."""

    def __init__(self, path: Path, timeout_seconds: float) -> None:
        self.path = path
        self.timeout_seconds = timeout_seconds
        self._mutex = threading.Lock()
        self._fd: int | None = None

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @contextmanager
    def held(self) -> Iterator[None]:
        deadline = time.monotonic() + self.timeout_seconds
        if not self._mutex.acquire(timeout=max(self.timeout_seconds, 0.0)):
            raise self._busy()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._flock(self._fd, deadline)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()

    def _flock(self, fd: int, deadline: float) -> None:
        pause = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._busy() from None
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, LOCK_POLL_MAX_SECONDS)

    def _busy(self) -> JournalError:
        return JournalError(f"{self.path}: another writer held the journal for "
                            f"{self.timeout_seconds:g} s; refused")


def replace_file(path: Path, data: bytes, before_rename: Callable[[], None]) -> None:
    """Make `data` the content of `path`: a crash leaves the old or the new file, and a
    failure (ENOSPC, EIO) leaves the old file and no temp file."""
    temp = sibling(path, ".compact")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)  # complete and durable before it can replace the journal
        finally:
            os.close(fd)
        before_rename()
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)


def remove_stale_temp(path: Path) -> None:
    """Only a writer holding the lock may call this: nobody else can be mid-rewrite."""
    with suppress(FileNotFoundError):
        os.unlink(sibling(path, ".compact"))


def quarantine_lines(scan: Scan) -> bytes:
    """The quarantine records for `scan`'s bad lines (format in the module docstring)."""
    records = [{"kind": "quarantined", "line": bad.number, "offset": bad.offset,
                "length": bad.length, "reason": bad.reason, "complete": bad.complete,
                "bytes_b64": base64.b64encode(bad.head).decode("ascii"),
                "journal_size": scan.size} for bad in scan.bad]
    if scan.bad_lines > len(scan.bad):
        records.append({"kind": "quarantine_overflow", "lines": scan.bad_lines - len(scan.bad),
                        "after_line": scan.bad[-1].number if scan.bad else 0})
    return b"".join(encode_line(record) for record in records)


def append_quarantine(path: Path, data: bytes) -> None:
    """Append durably to `path`, first rotating it to `<path>.1` when it would outgrow
    QUARANTINE_MAX_BYTES (so the two files stay bounded)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = -1
    if size > 0 and size + len(data) > QUARANTINE_MAX_BYTES:
        os.replace(path, sibling(path, ".1"))
        size = -1
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        with suppress(OSError):  # no half record for the next batch to continue
            os.ftruncate(fd, max(size, 0))
        raise
    finally:
        os.close(fd)
    if size < 0:  # a new directory entry: it must survive a crash too
        fsync_dir(path.parent)
