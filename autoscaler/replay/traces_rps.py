"""Whitespace-separated requests-per-second counts, plain or in a bzip2 tar (NASA workload).

The NASA file is one 10 MB line of 5 million numbers, so it is never held as text: the
archive is streamed, parsed in 256 KiB pieces with numpy, and written into one float64
array sized from the member's byte count (n numbers need at least 2n - 1 bytes).
"""

from __future__ import annotations

import bz2
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from autoscaler.replay.model import DemandSeries, FloatArray
from autoscaler.replay.traces_common import TraceError, check_scales

_READ_BYTES = 1 << 18
_TAR_SUFFIXES = (".tbz2", ".tar.bz2", ".tbz")


@contextmanager
def _open_counts(path: Path) -> Iterator[tuple[IO[bytes], int, str]]:
    """(binary stream, byte size or -1 if unknown, name for errors)."""
    name = path.name.lower()
    if name.endswith(_TAR_SUFFIXES):
        with tarfile.open(path, mode="r|bz2") as archive:
            for member in archive:
                stream = archive.extractfile(member) if member.isfile() else None
                if stream is not None:
                    yield stream, member.size, f"{path.name}:{member.name}"
                    return
        raise TraceError(path, None, "the archive holds no file")
    if name.endswith(".bz2"):
        with bz2.open(path, "rb") as stream:
            yield stream, -1, path.name
        return
    with path.open("rb") as stream:
        yield stream, path.stat().st_size, path.name


def _to_floats(tokens: list[bytes], text: bytes, source: str, line: int) -> FloatArray:
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
    if values is not None and np.isfinite(values).all() and (values >= 0).all():
        return values
    for match in re.finditer(rb"\S+", text):
        token = match.group().decode("utf-8", "replace")
        try:
            value = float(token)
        except ValueError:
            value = float("nan")
        if not (value >= 0 and value != float("inf")):
            where = line + text.count(b"\n", 0, match.start())
            raise TraceError(source, where, f"count {token!r} is not a non-negative number")
    raise AssertionError("unreachable: a bad token was detected above")


def _pieces(stream: IO[bytes], source: str) -> Iterator[FloatArray]:
    """Parsed pieces of the stream; a number split across two reads is carried over."""
    carry = b""
    line = 1
    while True:
        data = stream.read(_READ_BYTES)
        text = carry + data
        if data:
            cut = max(text.rfind(b" "), text.rfind(b"\n"), text.rfind(b"\t"),
                      text.rfind(b"\r")) + 1
            text, carry = text[:cut], text[cut:]
        tokens = text.split()
        if tokens:
            yield _to_floats(tokens, text, source, line)
        line += text.count(b"\n")
        if not data:
            return


def iter_rps_chunks(path: str | Path, chunk_values: int = 86400) -> Iterator[FloatArray]:
    """Per-second counts in arrays of `chunk_values` (the last may be shorter)."""
    if chunk_values < 1:
        raise ValueError(f"chunk_values must be >= 1, got {chunk_values}")
    path = Path(path)
    with _open_counts(path) as (stream, _, source):
        pending: list[FloatArray] = []
        held = 0
        for piece in _pieces(stream, source):
            pending.append(piece)
            held += len(piece)
            while held >= chunk_values:
                joined = np.concatenate(pending)
                yield joined[:chunk_values]
                pending, held = [joined[chunk_values:]], held - chunk_values
        if held:
            yield np.concatenate(pending)


def _read_all(path: Path) -> FloatArray:
    with _open_counts(path) as (stream, size, source):
        if size < 0:  # unknown size (plain .bz2): collect pieces instead
            pieces = list(_pieces(stream, source))
            values = np.concatenate(pieces) if pieces else np.empty(0)
        else:
            values = np.empty(size // 2 + 1, dtype=np.float64)
            filled = 0
            for piece in _pieces(stream, source):
                values[filled:filled + len(piece)] = piece
                filled += len(piece)
            values.resize(filled, refcheck=False)  # shrinks in place, no second copy
        if len(values) == 0:
            raise TraceError(source, 1, "no counts in the file")
        return values


def read_rps_lines(path: str | Path, time_scale: float = 1.0,
                   rate_scale: float = 1.0) -> DemandSeries:
    """Per-second request counts as requests_per_second, one value per `time_scale` s."""
    check_scales(time_scale, rate_scale)
    path = Path(path)
    values = _read_all(path)
    if rate_scale != 1.0:
        values *= rate_scale  # in place: the array is ours and 40 MB for NASA
    return DemandSeries(0.0, time_scale, values, "requests_per_second", str(path))
