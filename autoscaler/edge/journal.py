"""A durable, append-only journal of the edge agent's scaling decisions.

Offline, the edge MetaServer refuses writes, so the agent records each decision here and
applies the latest still-valid one on reconnect. Format: JSON Lines, each line
`<crc32 of the payload, 8 hex digits> <json payload>\\n`.

Crash safety: `append` returns only after write + fsync (and an fsync of the directory when
it created the file), so a returned append is on disk. A crash can only tear the one line
that was being written; reading ignores (and reports) a torn or CRC-failing *last* line, and
opening for append truncates it so new lines start clean. Any other bad line cannot come
from a crash, so it is an error naming the line, never silently dropped. `compact` writes a
temp file, fsyncs it and renames it over the journal: a crash leaves the old or the new one.
"""

from __future__ import annotations

import fcntl
import json
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from autoscaler.errors import PermanentError

DECISION = "decision"
APPLIED = "applied"


class JournalError(PermanentError):
    """The journal cannot be trusted as is (corrupt middle line, inconsistent records)."""


@dataclass(frozen=True, slots=True)
class JournalRead:
    records: tuple[dict[str, Any], ...]
    truncated_bytes: int  # the torn/corrupt tail that was ignored
    corrupt_lines: int  # 1 when the tail had a complete line failing its CRC, else 0
    valid_bytes: int  # length of the trustworthy prefix


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One decision: scale autoscaler `key` from `current_replicas` to `desired_replicas`."""

    seq: int
    key: str
    at_seconds: float
    current_replicas: int
    desired_replicas: int
    reason: str
    applied: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": DECISION, **asdict(self)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> JournalEntry:
        return cls(seq=_field(record, "seq", int), key=_field(record, "key", str),
                   at_seconds=float(_field(record, "at_seconds", float)),
                   current_replicas=_field(record, "current_replicas", int),
                   desired_replicas=_field(record, "desired_replicas", int),
                   reason=_field(record, "reason", str),
                   applied=_field(record, "applied", bool, False),
                   note=_field(record, "note", str, ""))


def _field(record: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = record.get(name, default)
    allowed = (int, float) if kind is float else (kind,)
    # bool is an int subclass: `true` must not pass for a replica count.
    if not isinstance(value, allowed) or (isinstance(value, bool) and kind is not bool):
        raise JournalError(f"journal record {dict(record)!r}: {name!r} must be a {kind.__name__}")
    return value


def encode_line(record: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps the payload on one line and the CRC independent of locale/encoding.
    payload = json.dumps(dict(record), sort_keys=True, separators=(",", ":"),
                         ensure_ascii=True, allow_nan=False).encode("ascii")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _decode_line(line: bytes) -> dict[str, Any] | None:
    """A complete line (without its newline) -> its record, or None if it fails its CRC."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:]
    if line[:8] != b"%08x" % zlib.crc32(payload):  # exact bytes: "0A" must not pass for "0a"
        return None
    try:
        record = json.loads(payload)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def parse(data: bytes, path: Path) -> JournalRead:
    """The journal's bytes -> records; tolerates a torn last line, rejects a corrupt middle."""
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: a write the crash cut short
    records: list[dict[str, Any]] = []
    offset = 0
    for number, line in enumerate(lines, start=1):
        record = _decode_line(line)
        if record is None:
            if number < len(lines):
                raise JournalError(f"{path}: line {number} is corrupt (CRC or JSON); only the "
                                   "last line may be torn by a crash, so the journal is damaged")
            return JournalRead(tuple(records), len(data) - offset, 1, offset)
        records.append(record)
        offset += len(line) + 1
    return JournalRead(tuple(records), len(tail), 0, offset)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Journal:
    """The journal at `path`. One writer at a time (an exclusive lock on `<path>.lock`).

    `before_fsync` / `before_rename` are fault-injection hooks for tests: called after an
    append's write and before its fsync, and after compaction's temp file is durable and
    before the rename.
    """

    def __init__(self, path: Path | str, *, before_fsync: Callable[[], None] | None = None,
                 before_rename: Callable[[], None] | None = None) -> None:
        self.path = Path(path)
        self._before_fsync = before_fsync or (lambda: None)
        self._before_rename = before_rename or (lambda: None)
        self._lock: int | None = None
        self._fd: int | None = None
        self._size = 0

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in (self._fd, self._lock):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock = None

    def read(self) -> JournalRead:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        return parse(data, self.path)

    def _writer(self) -> int:
        """The append fd: locked, the torn tail truncated and the repair made durable."""
        if self._lock is None:
            lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(lock)
                raise JournalError(f"{self.path}: another writer holds the journal") from exc
            self._lock = lock
        if self._fd is None:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                state = self.read()
                if state.truncated_bytes:
                    os.ftruncate(fd, state.valid_bytes)
                os.fsync(fd)
                if created:  # the new directory entry must survive a crash too
                    _fsync_dir(self.path.parent)
            except BaseException:
                os.close(fd)
                raise
            self._fd, self._size = fd, state.valid_bytes
        return self._fd

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record; returns only once it is durable ("acknowledged")."""
        line = encode_line(record)
        fd = self._writer()
        try:
            _write_all(fd, line)
            self._before_fsync()
            os.fsync(fd)
        except BaseException:
            # A half-written line would become a corrupt *middle* line after the next append:
            # cut it off, and reopen (re-reading the file) before writing again.
            try:
                os.ftruncate(fd, self._size)
            finally:
                os.close(fd)
                self._fd = None
            raise
        self._size += len(line)

    def entries(self) -> tuple[JournalEntry, ...]:
        """Every decision in seq order, with "applied" markers folded in."""
        by_seq: dict[int, JournalEntry] = {}
        for record in self.read().records:
            kind = record.get("kind")
            if kind == DECISION:
                entry = JournalEntry.from_dict(record)
                by_seq[entry.seq] = entry
            elif kind == APPLIED:
                seq = record.get("seq")
                if not isinstance(seq, int) or seq not in by_seq:
                    raise JournalError(f"{self.path}: applied marker for unknown seq {seq!r}")
                by_seq[seq] = replace(by_seq[seq], applied=True,
                                      note=_field(record, "note", str, ""))
            # Other kinds come from a newer agent: skipping them keeps old readers working.
        return tuple(sorted(by_seq.values(), key=lambda e: e.seq))

    def record(self, key: str, at_seconds: float, current_replicas: int, desired_replicas: int,
               reason: str) -> JournalEntry:
        """Journal a new decision with the next seq; durable when this returns."""
        entries = self.entries()
        entry = JournalEntry(seq=(entries[-1].seq + 1) if entries else 1, key=key,
                             at_seconds=at_seconds, current_replicas=current_replicas,
                             desired_replicas=desired_replicas, reason=reason)
        self.append(entry.to_dict())
        return entry

    def pending(self, key: str) -> JournalEntry | None:
        """The latest decision for `key` unless it was applied; older ones are superseded."""
        latest = [e for e in self.entries() if e.key == key]
        return latest[-1] if latest and not latest[-1].applied else None

    def mark_applied(self, seq: int, note: str = "") -> None:
        """Record (append-only) what happened to decision `seq`, e.g. applied or skipped."""
        entries = {e.seq: e for e in self.entries()}
        if seq not in entries:
            raise JournalError(f"{self.path}: no decision with seq {seq}")
        if entries[seq].applied:
            raise JournalError(f"{self.path}: decision {seq} was already applied")
        self.append({"kind": APPLIED, "seq": seq, "note": note})

    def compact(self) -> int:
        """Keep the latest entry per key and every unapplied one; returns how many remain.

        Crash-safe: the temp file is complete and durable before it replaces the journal.
        """
        self._writer()  # hold the lock and repair the tail first
        entries = self.entries()
        latest = {e.key: e.seq for e in entries}
        kept = [e for e in entries if not e.applied or latest[e.key] == e.seq]
        temp = self.path.with_name(self.path.name + ".compact")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, b"".join(encode_line(e.to_dict()) for e in kept))
            os.fsync(fd)
        finally:
            os.close(fd)
        self._before_rename()
        os.replace(temp, self.path)
        _fsync_dir(self.path.parent)
        if self._fd is not None:  # it still points at the old, now unlinked, file
            os.close(self._fd)
            self._fd = None
        return len(kept)
