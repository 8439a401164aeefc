"""A durable, append-only journal of the edge agent's scaling decisions.

Offline, the edge MetaServer refuses writes, so the agent records each decision here and
applies the latest still-valid one on reconnect. Format and validation: `journal_format`
(one `<crc32> <json>` line per record); the files beside it: `journal_files`.

Writers (`record`, `mark_applied`, `compact`, `repair`) are serialized, across threads and
processes, by flock on `<journal>.lock`, held for one operation: the writer re-reads the
journal under the lock, so its seq follows every acknowledged decision, whoever wrote it. A
writer that cannot get the lock within `lock_timeout_seconds` is refused (`JournalError`).
Readers (`read`, `entries`, `pending`) take no lock: appends and atomic renames never show
them a state that is wrong, only an unfinished last line, which they skip.

Crash safety: a write returns only after write + fsync (and an fsync of the directory when
it created the file), so a returned write is on disk. A crash can only tear the one line
being written: the next writer cuts an incomplete last line. A complete line that is not a
valid record (bit rot, a foreign write, a huge line, an unknown kind) cannot come from a
crash: readers skip it, and the next writer moves it to `<journal>.quarantine` with its line
number and byte offset, then rewrites the journal without it; `on_repair` hears of every
repair. Rewrites (compaction, quarantine) go through a fsync'd temp file renamed over the
journal: a crash leaves the old or the new one, a failure (ENOSPC) the old one and no temp.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from autoscaler.edge.journal_files import (
    WriterLock,
    append_quarantine,
    fsync_dir,
    quarantine_lines,
    remove_stale_temp,
    replace_file,
    sibling,
    write_all,
)
from autoscaler.edge.journal_format import (
    APPLIED,
    DECISION,
    MAX_LINE_BYTES,
    BadLine,
    JournalEntry,
    JournalError,
    Scan,
    clip,
    decode_line,
    encode_line,
    parse,
    scan,
)

__all__ = ["APPLIED", "DECISION", "BadLine", "Journal", "JournalEntry", "JournalError",
           "Repair", "Scan", "decode_line", "encode_line", "parse"]


@dataclass(frozen=True, slots=True)
class Repair:
    """What a writer found and fixed before writing."""

    path: Path
    quarantine: Path
    bad: tuple[BadLine, ...]  # positions as they were before the repair
    bad_lines: int
    torn_bytes: int  # an incomplete last line that was cut
    error: str = ""  # quarantining failed: the bad lines stay (skipped), the next writer retries

    @property
    def quarantined(self) -> int:
        return 0 if self.error else self.bad_lines

    def describe(self) -> str:
        parts = []
        if self.bad_lines:
            where = ", ".join(f"line {b.number} at byte {b.offset} ({b.reason})"
                              for b in self.bad[:3])
            more = f" and {self.bad_lines - 3} more" if self.bad_lines > 3 else ""
            done = (f"could not be quarantined ({self.error}), readers skip them"
                    if self.error else f"moved to {self.quarantine}")
            parts.append(f"{self.bad_lines} invalid line(s) {done}: {where}{more}")
        if self.torn_bytes:
            parts.append(f"cut a torn last line of {self.torn_bytes} bytes")
        return f"{self.path}: " + "; ".join(parts)


@dataclass
class _Writable:
    """A writer's view inside the lock: the journal open for append, repaired."""

    fd: int
    scan: Scan
    size: int  # where the next line starts
    repair: Repair | None


@contextmanager
def _io_errors(path: Path, what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:  # ENOSPC, EIO, EACCES: the caller reports it and tries later
        raise JournalError(f"{path}: {what} failed: {exc}") from exc


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False  # then reopening `path` decides (and reports) what is there


def latest_per_key(entries: tuple[JournalEntry, ...]) -> list[JournalEntry]:
    """Only the latest decision per key is ever applied or reported, so older ones (even
    unapplied: superseded) can go; keeping them would grow the journal every offline pass."""
    latest = {entry.key: entry for entry in entries}
    return sorted(latest.values(), key=lambda entry: entry.seq)


class Journal:
    """The journal at `path`.

    `before_fsync` / `before_rename` are fault-injection hooks for tests: called after an
    append's write and before its fsync, and after a rewrite's temp file is durable and
    before the rename. `on_repair` is called (outside the lock) after a writer quarantined
    lines or cut a torn tail.
    """

    def __init__(self, path: Path | str, *, before_fsync: Callable[[], None] | None = None,
                 before_rename: Callable[[], None] | None = None,
                 on_repair: Callable[[Repair], None] | None = None,
                 lock_timeout_seconds: float = 10.0) -> None:
        self.path = Path(path)
        self.quarantine_path = sibling(self.path, ".quarantine")
        self.on_repair = on_repair
        self._before_fsync = before_fsync or (lambda: None)
        self._before_rename = before_rename or (lambda: None)
        self._lock = WriterLock(sibling(self.path, ".lock"), lock_timeout_seconds)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._lock.close()

    # --- readers: no lock ---------------------------------------------------------------

    def read(self) -> Scan:
        """The journal as it is now; changes nothing (bad lines are listed, not moved)."""
        with _io_errors(self.path, "read"):
            try:
                with open(self.path, "rb") as stream:
                    return scan(stream)
            except FileNotFoundError:
                return Scan()

    def entries(self) -> tuple[JournalEntry, ...]:
        """Every valid decision in seq order, with "applied" markers folded in."""
        return self.read().entries

    def pending(self, key: str) -> JournalEntry | None:
        """The latest decision for `key` unless it was applied; older ones are superseded."""
        latest = [e for e in self.entries() if e.key == key]
        return latest[-1] if latest and not latest[-1].applied else None

    # --- writers: under the lock ----------------------------------------------------------

    def record(self, key: str, at_seconds: float, current_replicas: int, desired_replicas: int,
               reason: str) -> JournalEntry:
        """Journal a new decision with the next seq; durable when this returns."""
        with self._writable("record") as state:
            # The round trip refuses what a reader would quarantine (NaN, negative counts).
            entry = JournalEntry.from_dict(JournalEntry(
                seq=state.scan.last_seq + 1, key=key, at_seconds=at_seconds,
                current_replicas=current_replicas, desired_replicas=desired_replicas,
                reason=clip(reason)).to_dict())
            self._append(state, entry.to_dict())
        return entry

    def mark_applied(self, seq: int, note: str = "") -> None:
        """Record (append-only) what happened to decision `seq`, e.g. applied or skipped."""
        with self._writable("mark applied") as state:
            entry = next((e for e in state.scan.entries if e.seq == seq), None)
            if entry is None:
                raise JournalError(f"{self.path}: no decision with seq {seq}")
            if entry.applied:
                raise JournalError(f"{self.path}: decision {seq} was already applied")
            self._append(state, {"kind": APPLIED, "seq": seq, "note": clip(note)})

    def repair(self) -> Repair | None:
        """Quarantine invalid lines and cut a torn tail now (every writer does it first)."""
        with self._writable("repair") as state:
            return state.repair

    def compact(self) -> int:
        """Keep the latest decision per key; returns how many remain. On failure the old
        journal stays as it was and no temp file is left (retry later)."""
        with self._writable("compact") as state:
            if state.scan.bad_lines:  # their only copy: never drop them unquarantined
                raise JournalError(f"{self.path}: not compacted: {state.scan.bad_lines} "
                                   "invalid line(s) could not be quarantined yet")
            kept = latest_per_key(state.scan.entries)
            replace_file(self.path, b"".join(encode_line(e.to_dict()) for e in kept),
                         self._before_rename)
        return len(kept)

    @contextmanager
    def _writable(self, what: str) -> Iterator[_Writable]:
        repair: Repair | None = None
        try:
            with _io_errors(self.path, what), self._lock.held():
                state = self._open_repaired()
                repair = state.repair
                try:
                    yield state
                finally:
                    os.close(state.fd)
        finally:  # reported even when the operation then failed: the repair happened
            if repair is not None and self.on_repair is not None:
                self.on_repair(repair)

    def _open_repaired(self) -> _Writable:
        remove_stale_temp(self.path)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            with open(fd, "rb", closefd=False) as stream:
                found = scan(stream)
            if found.torn_bytes:  # the next line must start clean
                os.ftruncate(fd, found.size - found.torn_bytes)
            if found.torn_bytes or created:
                os.fsync(fd)
            if created:  # the new directory entry must survive a crash too
                fsync_dir(self.path.parent)
        except BaseException:
            os.close(fd)
            raise
        state = _Writable(fd, found, found.size - found.torn_bytes, None)
        if found.bad_lines:
            state = self._quarantine(state)
        elif found.torn_bytes:
            state.repair = self._repair(found)
        return state

    def _repair(self, found: Scan, error: str = "") -> Repair:
        return Repair(self.path, self.quarantine_path, found.bad, found.bad_lines,
                      found.torn_bytes, error)

    def _quarantine(self, state: _Writable) -> _Writable:
        """Bad lines to the quarantine first, then the journal without them: a crash in
        between quarantines them twice, never loses them. A failure leaves them in place."""
        found = state.scan
        try:
            append_quarantine(self.quarantine_path, quarantine_lines(found))
            replace_file(self.path, b"".join(found.kept), self._before_rename)
        except OSError as exc:
            if _same_file(state.fd, self.path):  # not renamed: keep appending to this one
                state.repair = self._repair(found, str(exc))
                return state
        except BaseException:
            os.close(state.fd)
            raise
        # Replaced (even if the directory fsync then failed): state.fd is the old, unlinked
        # file now, and a line appended there would be acknowledged and lost.
        os.close(state.fd)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        clean = replace(found, bad=(), bad_lines=0, torn_bytes=0,
                        size=sum(len(line) for line in found.kept))
        return _Writable(fd, clean, clean.size, self._repair(found))

    def _append(self, state: _Writable, record: Mapping[str, Any]) -> None:
        """Append one line; returns only once it is durable ("acknowledged")."""
        line = encode_line(record)
        if len(line) > MAX_LINE_BYTES + 1:
            raise JournalError(f"{self.path}: record of {len(line)} bytes is too large")
        try:
            write_all(state.fd, line)
            self._before_fsync()
            os.fsync(state.fd)
        except BaseException:
            # A half-written line would be cut or quarantined later; cut it now.
            with suppress(OSError):
                os.ftruncate(state.fd, state.size)
            raise
        state.size += len(line)
