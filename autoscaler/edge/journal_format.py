"""The edge journal's format, and the scan that sorts every line into kept or bad.

A line is `<crc32 of the payload, 8 lower-case hex digits> <JSON object>\\n`. A record is a
decision (`kind: decision`, a `JournalEntry`) or an applied marker (`kind: applied`, `seq`,
`note`). `scan` reads a stream once, front to back, holding at most `MAX_LINE_BYTES` of any
one line, and never raises for content: a line failing its CRC, JSON or the record rules
(field types, unknown kinds, a seq that does not increase, a marker for an unknown or
already applied decision, more than `MAX_LINE_BYTES`) is a `BadLine` with its position; an
incomplete last line (no newline: a write a crash cut short) is counted in `torn_bytes`.
"""

from __future__ import annotations

import io
import json
import math
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, BinaryIO

from autoscaler.errors import PermanentError

DECISION = "decision"
APPLIED = "applied"
# A decision line is a few hundred bytes; the cap bounds the memory a damaged file can cost.
MAX_LINE_BYTES = 64 * 1024
TEXT_LIMIT = 2048  # reason/note characters kept: with JSON escapes still far below the cap
# Bad lines listed one by one, and the bytes of them kept for the quarantine, per scan: a
# file full of garbage must not turn into unbounded memory or an unbounded quarantine file.
MAX_BAD_DETAILS = 1000
MAX_BAD_HEAD_BYTES = 1024 * 1024


class JournalError(PermanentError):
    """The journal cannot be used right now (I/O failure, lock busy, invalid request)."""


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
        entry = cls(seq=_field(record, "seq", int), key=_field(record, "key", str),
                    at_seconds=float(_field(record, "at_seconds", float)),
                    current_replicas=_field(record, "current_replicas", int),
                    desired_replicas=_field(record, "desired_replicas", int),
                    reason=_field(record, "reason", str),
                    applied=_field(record, "applied", bool, False),
                    note=_field(record, "note", str, ""))
        if entry.seq < 1 or min(entry.current_replicas, entry.desired_replicas) < 0 \
                or not math.isfinite(entry.at_seconds):
            raise JournalError(f"decision {entry.seq}: seq, replicas or time out of range")
        return entry


def _field(record: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = record.get(name, default)
    allowed = (int, float) if kind is float else (kind,)
    # bool is an int subclass: `true` must not pass for a replica count.
    if not isinstance(value, allowed) or (isinstance(value, bool) and kind is not bool):
        raise JournalError(f"{name!r} must be a {kind.__name__}")
    return value


def encode_line(record: Mapping[str, Any]) -> bytes:
    # ensure_ascii keeps the payload on one line and the CRC independent of locale/encoding.
    payload = json.dumps(dict(record), sort_keys=True, separators=(",", ":"),
                         ensure_ascii=True, allow_nan=False).encode("ascii")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: we never write them


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # built once: json.loads rebuilds it


def decode_line(line: bytes) -> dict[str, Any]:
    """A complete line (without its newline) -> its JSON object; JournalError says why not."""
    if len(line) < 10 or line[8:9] != b" ":
        raise JournalError("no '<crc> ' prefix")
    payload = line[9:]
    if line[:8] != b"%08x" % zlib.crc32(payload):  # exact bytes: "0A" must not pass for "0a"
        raise JournalError("CRC mismatch")
    try:
        # Strict UTF-8 (we write ASCII): json.loads would also guess UTF-16/32 from bytes.
        record = _DECODER.decode(payload.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # deep nesting can pass a CRC too
        raise JournalError(f"invalid JSON: {type(exc).__name__}") from exc
    if not isinstance(record, dict):
        raise JournalError("payload is not a JSON object")
    return record


@dataclass(frozen=True, slots=True)
class BadLine:
    """A complete line that is not a valid record, and where it was in the scanned file."""

    number: int  # 1-based line number
    offset: int  # byte offset of its first byte
    length: int  # its bytes, newline included
    reason: str
    head: bytes = b""  # its bytes without the newline, up to MAX_LINE_BYTES (budget allowing)

    @property
    def complete(self) -> bool:
        return len(self.head) == self.length - 1


@dataclass(frozen=True, slots=True)
class Scan:
    """What a journal file holds: the valid records folded into entries, and the rest."""

    entries: tuple[JournalEntry, ...] = ()  # seq order, applied markers folded in
    kept: tuple[bytes, ...] = ()  # the valid lines as on disk (newline included)
    bad: tuple[BadLine, ...] = ()  # at most MAX_BAD_DETAILS of them
    bad_lines: int = 0  # all of them
    torn_bytes: int = 0  # an incomplete last line (no newline)
    size: int = 0  # bytes scanned

    @property
    def lines(self) -> int:
        return len(self.kept) + self.bad_lines

    @property
    def last_seq(self) -> int:
        return self.entries[-1].seq if self.entries else 0

    @property
    def clean(self) -> bool:
        return not self.bad_lines and not self.torn_bytes


@dataclass(frozen=True, slots=True)
class _RawLine:
    offset: int
    length: int
    head: bytes  # up to MAX_LINE_BYTES + 1 bytes, the newline included when it fits
    complete: bool


def _raw_lines(stream: BinaryIO) -> Iterator[_RawLine]:
    """Every line with its position; a long line is skipped through, never held whole."""
    limit = MAX_LINE_BYTES + 1
    offset = 0
    while head := stream.readline(limit):
        length, chunk = len(head), head
        while not chunk.endswith(b"\n") and len(chunk) == limit:
            chunk = stream.readline(limit)
            length += len(chunk)
        yield _RawLine(offset, length, head, chunk.endswith(b"\n"))
        offset += length


@dataclass
class _Fold:
    """The scan's state: decisions by seq (insertion order is seq order) and the rest."""

    by_seq: dict[int, JournalEntry] = field(default_factory=dict)
    kept: list[bytes] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    bad_lines: int = 0
    head_budget: int = MAX_BAD_HEAD_BYTES

    def accept(self, record: dict[str, Any]) -> None:
        """Fold in one decoded record; JournalError if the record rules refuse it."""
        kind = record.get("kind")
        if kind == DECISION:
            entry = JournalEntry.from_dict(record)
            last = next(reversed(self.by_seq), 0)
            if entry.seq <= last:
                raise JournalError(f"decision seq {entry.seq} does not follow seq {last}")
            self.by_seq[entry.seq] = entry
        elif kind == APPLIED:
            seq, note = _field(record, "seq", int), _field(record, "note", str, "")
            decided = self.by_seq.get(seq)
            if decided is None or decided.applied:
                raise JournalError(f"applied marker for an unknown or applied seq {seq}")
            self.by_seq[seq] = replace(decided, applied=True, note=note)
        else:
            raise JournalError(f"unknown record kind {str(kind)[:40]!r}")

    def reject(self, number: int, raw: _RawLine, reason: str) -> None:
        self.bad_lines += 1
        if len(self.bad) >= MAX_BAD_DETAILS:
            return
        head = raw.head.removesuffix(b"\n")[:MAX_LINE_BYTES]
        head = head if len(head) <= self.head_budget else b""
        self.head_budget -= len(head)
        self.bad.append(BadLine(number, raw.offset, raw.length, reason, head))


def scan(stream: BinaryIO) -> Scan:
    """Sort every line of `stream` into kept or bad, in one linear pass; never raises for
    content."""
    fold = _Fold()
    size = torn = 0
    for number, raw in enumerate(_raw_lines(stream), start=1):
        size += raw.length
        if not raw.complete:  # only the last line can lack its newline
            torn = raw.length
        elif raw.length > MAX_LINE_BYTES + 1:
            fold.reject(number, raw, f"longer than {MAX_LINE_BYTES} bytes")
        else:
            try:
                fold.accept(decode_line(raw.head[:-1]))
            except JournalError as exc:
                fold.reject(number, raw, str(exc))
            else:
                fold.kept.append(raw.head)
    return Scan(tuple(fold.by_seq.values()), tuple(fold.kept), tuple(fold.bad),
                fold.bad_lines, torn, size)


def parse(data: bytes) -> Scan:
    """`scan` of bytes in memory."""
    return scan(io.BytesIO(data))


def clip(text: str) -> str:
    """Free text as journaled: bounded, so a record's line stays far below the read cap."""
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "…"
