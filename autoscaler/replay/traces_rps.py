"""Whitespace-separated requests-per-second counts, plain or in a bzip2 tar (NASA workload).

The NASA file is one 10 MB line of 5 million numbers, so it is never held as text: the
archive is streamed, parsed in 256 KiB pieces with numpy, and written into one float64
array sized from the member's byte count (n numbers need at least 2n - 1 bytes), capped at
the step limit.

Limits (autoscaler.replay.limits): a number is at most `max_number_chars` (64) characters,
so a file without whitespace (binary, sparse) is refused at once instead of being carried
from read to read; at most `max_steps` counts and `max_span_seconds` of them after
time_scale; counts x rate_scale at most `max_value`. A corrupt archive is a TraceError.
"""

from __future__ import annotations

import bz2
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from autoscaler.replay.input_errors import TraceError
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits, describe_seconds
from autoscaler.replay.model import DemandSeries, FloatArray
from autoscaler.replay.traces_common import check_scales, shown

_READ_BYTES = 1 << 18
_TAR_SUFFIXES = (".tbz2", ".tar.bz2", ".tbz")
# What a broken bzip2 stream or tar raises while being read.
_CORRUPT = (OSError, EOFError, tarfile.TarError, ValueError)


@dataclass(frozen=True)
class _Counts:
    stream: IO[bytes]
    size: int  # bytes, -1 when unknown (plain .bz2)
    source: str  # the name for errors, `archive:member` inside a tar


@contextmanager
def _open_counts(path: Path) -> Iterator[_Counts]:
    name = path.name.lower()
    try:
        if name.endswith(_TAR_SUFFIXES):
            with tarfile.open(path, mode="r|bz2") as archive:
                for member in archive:
                    stream = archive.extractfile(member) if member.isfile() else None
                    if stream is not None:
                        yield _Counts(stream, member.size, f"{path.name}:{member.name}")
                        return
            raise TraceError(path, None, "the archive holds no file")
        if name.endswith(".bz2"):
            with bz2.open(path, "rb") as stream:
                yield _Counts(stream, -1, path.name)
            return
        with path.open("rb") as stream:
            yield _Counts(stream, path.stat().st_size, path.name)
    except TraceError:  # a ValueError too, and already says where
        raise
    except _CORRUPT as exc:
        raise TraceError(path, None, f"cannot read: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{exc or type(exc).__name__} (a corrupt or truncated archive?)"


def _to_floats(tokens: list[bytes], text: bytes, source: str, line: int,
               limits: TraceLimits, most: float) -> FloatArray:
    """Tokens as float64; the first bad one is reported with its line (slow path only)."""
    raw = np.array(tokens, dtype=np.bytes_)
    values: FloatArray | None = None
    # Counts are usually whole numbers, and numpy parses those twice as fast as floats.
    for dtype in (np.int64, np.float64):
        try:
            values = raw.astype(dtype).astype(np.float64, copy=False)
            break
        except (ValueError, OverflowError):
            continue
    if values is not None and raw.itemsize <= limits.max_number_chars \
            and np.isfinite(values).all() and (values >= 0).all() and (values <= most).all():
        return values
    # The slow path is the definition: each token checked, in order, with its line.
    return np.array([_check_token(match.group(), source,
                                  line + text.count(b"\n", 0, match.start()), limits, most)
                     for match in re.finditer(rb"\S+", text)], dtype=np.float64)


# A plain decimal count: Python's float() would also take "１２" or "1_000", numpy would not.
_COUNT = re.compile(rb"\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _check_token(data: bytes, source: str, line: int, limits: TraceLimits, most: float
                 ) -> float:
    token = data.decode("utf-8", "replace")
    if len(data) > limits.max_number_chars:
        raise TraceError(source, line, f"count {shown(token)} is longer than "
                                       f"{limits.max_number_chars} characters")
    value = float(data) if _COUNT.fullmatch(data) else float("nan")
    if not (value >= 0 and value != float("inf")):
        raise TraceError(source, line, f"count {shown(token)} is not a non-negative number")
    if value > most:
        raise TraceError(source, line, f"count {shown(token)} is above the limit {most:g} "
                                       "(the level limit over rate_scale)")
    return value


def _pieces(stream: IO[bytes], source: str, limits: TraceLimits, most: float
            ) -> Iterator[FloatArray]:
    """Parsed pieces of the stream; a number split across two reads is carried over."""
    carry = b""
    line = 1
    while True:
        try:
            data = stream.read(_READ_BYTES)
        except _CORRUPT as exc:
            raise TraceError(source, line, f"cannot read: {_reason(exc)}") from None
        text = carry + data
        if data:
            # The carry is at most one number long, so each byte is scanned a bounded number
            # of times: linear in the file, whatever its content.
            cut = _last_whitespace(text) + 1
            text, carry = text[:cut], text[cut:]
            if len(carry) > limits.max_number_chars:
                raise TraceError(source, line + text.count(b"\n"),
                                 f"a count longer than {limits.max_number_chars} characters "
                                 "(a binary file, or counts not separated by whitespace?)")
        tokens = text.split()
        if tokens:
            yield _to_floats(tokens, text, source, line, limits, most)
        line += text.count(b"\n")
        if not data:
            return


def _last_whitespace(text: bytes) -> int:
    return max(text.rfind(b" "), text.rfind(b"\n"), text.rfind(b"\t"), text.rfind(b"\r"),
               text.rfind(b"\v"), text.rfind(b"\f"))


def _budget(time_scale: float, limits: TraceLimits) -> int:
    """How many counts fit in the step and span limits at `time_scale` s each."""
    return int(min(limits.max_steps, limits.max_span_seconds // time_scale))


def _too_many(source: str, budget: int, time_scale: float) -> TraceError:
    span = describe_seconds(budget * time_scale)
    return TraceError(source, None, f"more than {budget} counts ({span} at {time_scale:g} s "
                                    "each): raise --max-span, or replay a shorter part")


def _most(rate_scale: float, limits: TraceLimits) -> float:
    return limits.max_value / rate_scale if rate_scale > 0 else float("inf")


def iter_rps_chunks(path: str | Path, chunk_values: int = 86400,
                    limits: TraceLimits = DEFAULT_LIMITS) -> Iterator[FloatArray]:
    """Per-second counts in arrays of `chunk_values` (the last may be shorter)."""
    if chunk_values < 1:
        raise ValueError(f"chunk_values must be >= 1, got {chunk_values}")
    path = Path(path)
    with _open_counts(path) as counts:
        pending: list[FloatArray] = []
        held = 0
        for piece in _pieces(counts.stream, counts.source, limits, _most(1.0, limits)):
            pending.append(piece)
            held += len(piece)
            while held >= chunk_values:
                joined = np.concatenate(pending)
                yield joined[:chunk_values]
                pending, held = [joined[chunk_values:]], held - chunk_values
        if held:
            yield np.concatenate(pending)


def _read_all(path: Path, time_scale: float, rate_scale: float, limits: TraceLimits
              ) -> FloatArray:
    budget = _budget(time_scale, limits)
    with _open_counts(path) as counts:
        source = counts.source
        # The byte count bounds the numbers (sparse files included), the budget bounds the
        # array: a 2 GiB file never asks for 8 GiB. Unknown sizes (.bz2) grow by doubling.
        capacity = min(counts.size // 2 + 1, budget + 1) if counts.size >= 0 \
            else min(1 << 20, budget + 1)
        values = np.empty(capacity, dtype=np.float64)
        filled = 0
        for piece in _pieces(counts.stream, source, limits, _most(rate_scale, limits)):
            if filled + len(piece) > budget:
                raise _too_many(source, budget, time_scale)
            if filled + len(piece) > len(values):
                values.resize(min(budget + 1, max(2 * len(values), filled + len(piece))),
                              refcheck=False)
            values[filled:filled + len(piece)] = piece
            filled += len(piece)
        values.resize(filled, refcheck=False)  # shrinks in place, no second copy
        if len(values) == 0:
            raise TraceError(source, 1, "no counts in the file")
        return values


def read_rps_lines(path: str | Path, time_scale: float = 1.0, rate_scale: float = 1.0,
                   limits: TraceLimits = DEFAULT_LIMITS) -> DemandSeries:
    """Per-second request counts as requests_per_second, one value per `time_scale` s."""
    check_scales(time_scale, rate_scale)
    path = Path(path)
    values = _read_all(path, time_scale, rate_scale, limits)
    if rate_scale != 1.0:
        values *= rate_scale  # in place: the array is ours and 40 MB for NASA
    return DemandSeries(0.0, time_scale, values, "requests_per_second", str(path))
