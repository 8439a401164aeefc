"""Per-step timeline as CSV or JSON Lines, streamed to disk chunk by chunk.

A 58-day replay is ~5 million rows per policy, so rows are formatted a column at a time
from each chunk's arrays and written straight out; nothing accumulates between chunks.
"""

from __future__ import annotations

import csv
import io
import json
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from autoscaler.replay.model import DecisionRecord, StepChunk, Summary

TimelineFormat = Literal["csv", "jsonl"]

COLUMNS = ("policy", "t_seconds", "demand", "capacity", "replicas", "ready", "served",
           "queued", "dropped", "violation")

# Beyond this, printing an integral float as an integer gets long; repr is shorter and
# just as exact.
_INTEGER_PRINT_LIMIT = 1e16


def format_number(value: float) -> str:
    """Shortest text that reads back as the same float; integral values print as integers.

    `%.6g` would turn t=5000001 into 5e+06; repr keeps every digit but says "5000001.0".
    """
    if value.is_integer() and abs(value) < _INTEGER_PRINT_LIMIT:
        return str(int(value))
    return repr(value)


def _format_floats(values: NDArray[np.float64], json_mode: bool) -> list[str]:
    finite = np.isfinite(values)
    integral = finite & (np.floor(values) == values) & (np.abs(values) < _INTEGER_PRINT_LIMIT)
    # Fast path: time, replica-like and whole-core columns are usually all integral.
    if bool(integral.all()):
        return list(map(str, values.astype(np.int64).tolist()))
    texts = list(map(repr, values.tolist()))
    # repr says "3.0"; only the integral entries need redoing, by index.
    for i, whole in zip(np.flatnonzero(integral).tolist(),
                        values[integral].astype(np.int64).tolist(), strict=True):
        texts[i] = str(whole)
    if json_mode and not bool(finite.all()):
        # JSON has no NaN/Infinity literals; null keeps every line parseable.
        for i in np.flatnonzero(~finite).tolist():
            texts[i] = "null"
    return texts


def _format_column(values: NDArray[np.generic], json_mode: bool) -> list[str]:
    if values.dtype == np.bool_:
        words = ("true", "false") if json_mode else ("1", "0")
        return [words[0] if v else words[1] for v in values.tolist()]
    if np.issubdtype(values.dtype, np.integer):
        return list(map(str, values.tolist()))
    return _format_floats(values.astype(np.float64, copy=False), json_mode)


def _chunk_columns(chunk: StepChunk, json_mode: bool) -> list[list[str]]:
    arrays = (chunk.t_seconds, chunk.demand, chunk.capacity, chunk.replicas, chunk.ready,
              chunk.served, chunk.queued, chunk.dropped, chunk.violation)
    return [_format_column(np.asarray(a), json_mode) for a in arrays]


def _csv_field(text: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([text])
    return buffer.getvalue()


class TimelineWriter:
    """ReplaySink writing one row per step per policy, in the order chunks arrive."""

    def __init__(self, path: Path, fmt: TimelineFormat = "csv") -> None:
        if fmt not in ("csv", "jsonl"):
            raise ValueError(f"timeline format must be 'csv' or 'jsonl', not {fmt!r}")
        self.path = path
        self.fmt: TimelineFormat = fmt
        self._file = path.open("w", encoding="utf-8", newline="", buffering=1 << 20)
        if fmt == "csv":
            self._file.write(",".join(COLUMNS) + "\n")
        # Each policy's name is escaped once, not once per row.
        self._policy_text: dict[str, str] = {}
        self._jsonl_template = "{" + ",".join(f'"{c}":%s' for c in COLUMNS) + "}"

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        if len(chunk.t_seconds) == 0:
            return
        json_mode = self.fmt == "jsonl"
        policy_text = self._policy_text.get(policy)
        if policy_text is None:
            policy_text = json.dumps(policy) if json_mode else _csv_field(policy)
            self._policy_text[policy] = policy_text
        rows = zip(repeat(policy_text), *_chunk_columns(chunk, json_mode), strict=False)
        if json_mode:
            template = self._jsonl_template
            lines = [template % row for row in rows]
        else:
            lines = [",".join(row) for row in rows]
        self._file.write("\n".join(lines))
        self._file.write("\n")

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass

    def on_summary(self, summary: Summary) -> None:
        pass

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
