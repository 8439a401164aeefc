"""One instant query against Prometheus' HTTP API, and the validation of its answer.

A query either returns validated samples or raises `PrometheusUnavailableError` (a
`TransientError`) saying what was wrong: no retries here (the controller loop owns retry),
one timeout per request, answers over `MAX_ANSWER_BYTES` refused, JSON parsed by
`autoscaler.safeload` (depth, size and number limits), `resultType` must be `vector`,
every item an object with string labels and a `[timestamp, "value"]` pair, every value finite
and within +-1e15 (a milli-value must fit in int64), every timestamp finite.

The bearer token file is re-read whenever it changes (mtime or size), so a rotated
service-account token is picked up without a restart; the token never reaches a log or an
error message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from autoscaler.errors import InputError, TransientError
from autoscaler.safeload import Limits, load_json

MAX_ANSWER_BYTES = 16 * 1024 * 1024
MAX_ABS_VALUE = 1e15
ANSWER_LIMITS = Limits(max_bytes=MAX_ANSWER_BYTES, max_depth=32)


class PrometheusUnavailableError(TransientError):
    """The query failed or its answer cannot be trusted; the message says which."""


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float
    timestamp: float


class TokenFile:
    """A bearer token read from its file, re-read when the file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._token = ""

    def headers(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            stat = self.path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            if version != self._seen:
                self._token = self.path.read_text(encoding="utf-8").strip()
                self._seen = version
        except OSError as exc:
            raise PrometheusUnavailableError(f"bearer token file {self.path}: "
                                             f"{exc.strerror or type(exc).__name__}") from exc
        return {"Authorization": f"Bearer {self._token}"}


def instant(session: requests.Session, url: str, query: str, now: float, timeout: float,
            token: TokenFile) -> list[Sample]:
    document = _get(session, f"{url}/api/v1/query", {"query": query, "time": f"{now:.3f}"},
                    query, timeout, token)
    return samples(document, query)


def _get(session: requests.Session, url: str, params: Mapping[str, str], query: str,
         timeout: float, token: TokenFile) -> Any:
    """The parsed JSON answer of one GET (bounded, no retries), or the error saying why."""
    try:
        response = session.get(url, params=params, headers=token.headers(), timeout=timeout,
                               stream=True)
        try:
            body = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        finally:
            response.close()
    except requests.RequestException as exc:
        raise PrometheusUnavailableError(f"query failed: {type(exc).__name__}: "
                                         f"{_redact(str(exc))[:300]}") from exc
    except OSError as exc:
        raise PrometheusUnavailableError(f"query failed: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise PrometheusUnavailableError(f"HTTP {response.status_code} for {query[:200]}: "
                                         f"{_redact(body[:200].decode('utf-8', 'replace'))}")
    try:
        return load_json(body, "answer", ANSWER_LIMITS)
    except InputError as exc:
        raise PrometheusUnavailableError(f"malformed answer to {query[:200]}: {exc}") from exc


@dataclass(frozen=True)
class Series:
    """One series of a range query: (timestamp, value) pairs in time order."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


MAX_RANGE_POINTS = 11_000  # Prometheus' own limit per series is 11,000 points


def range_query(session: requests.Session, url: str, query: str, start: float, end: float,
                step: float, timeout: float, token: TokenFile) -> list[Series]:
    """`/api/v1/query_range`, validated like an instant answer (values finite and bounded,
    labels strings) plus: `resultType` must be `matrix`, points in time order inside
    [start, end], at most MAX_RANGE_POINTS per series."""
    if not (math.isfinite(start) and math.isfinite(end) and step > 0 and end >= start) \
            or (end - start) / step > MAX_RANGE_POINTS:
        raise PrometheusUnavailableError(f"range [{start}, {end}] step {step} is not a range "
                                         f"of at most {MAX_RANGE_POINTS} points")
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    document = _get(session, f"{url}/api/v1/query_range", params, query, timeout, token)
    data = document.get("data") if isinstance(document, Mapping) else None
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix" \
            or not isinstance(data.get("result"), list):
        raise PrometheusUnavailableError(f"expected a matrix for the range query "
                                         f"{query[:200]}")
    return [_series(item, query, start, end) for item in data["result"]]


def _series(item: Any, query: str, start: float, end: float) -> Series:
    where = f"series in the answer to {query[:120]}"
    values = item.get("values") if isinstance(item, Mapping) else None
    if not isinstance(values, list) or len(values) > MAX_RANGE_POINTS:
        raise PrometheusUnavailableError(f"{where}: values is not a list of at most "
                                         f"{MAX_RANGE_POINTS} points")
    labels = _sample({"metric": item.get("metric", {}), "value": [start, "0"]}, query).labels
    points: list[tuple[float, float]] = []
    for pair in values:
        sample = _sample({"metric": labels, "value": pair}, query)
        if not start - 1e-3 <= sample.timestamp <= end + 1e-3 or (
                points and sample.timestamp <= points[-1][0]):
            raise PrometheusUnavailableError(f"{where} {dict(labels)}: timestamp "
                                             f"{sample.timestamp} out of order or range")
        points.append((sample.timestamp, sample.value))
    return Series(labels, tuple(points))


def samples(document: Any, query: str) -> list[Sample]:
    """A parsed `/api/v1/query` answer -> validated samples."""
    data = document.get("data") if isinstance(document, Mapping) else None
    if not isinstance(data, Mapping):
        raise PrometheusUnavailableError(f"malformed answer to {query[:200]}: no data object")
    if data.get("resultType") != "vector":
        raise PrometheusUnavailableError(
            f"expected an instant vector for {query[:200]}, got "
            f"{str(data.get('resultType'))[:20]!r}; use an instant-vector query")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusUnavailableError(f"malformed answer to {query[:200]}: result is not "
                                         "a list")
    return [_sample(item, query) for item in result]


def _sample(item: Any, query: str) -> Sample:
    where = f"series in the answer to {query[:120]}"
    if not isinstance(item, Mapping):
        raise PrometheusUnavailableError(f"{where}: not an object: {str(item)[:80]}")
    labels = item.get("metric", {})
    if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise PrometheusUnavailableError(f"{where}: labels are not a string map: "
                                         f"{str(labels)[:80]}")
    pair = item.get("value")
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str) \
            or isinstance(pair[0], bool) or not isinstance(pair[0], int | float):
        raise PrometheusUnavailableError(f"{where} {dict(labels)}: value is not "
                                         f"[timestamp, \"number\"]: {str(pair)[:80]}")
    try:
        value = float(pair[1])
    except ValueError as exc:
        raise PrometheusUnavailableError(f"{where} {dict(labels)}: value {pair[1][:40]!r} is "
                                         "not a number") from exc
    if not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
        raise PrometheusUnavailableError(f"series {dict(labels)} has value {pair[1][:40]} "
                                         "(not a number we can scale on)")
    if not math.isfinite(float(pair[0])):
        raise PrometheusUnavailableError(f"{where} {dict(labels)}: timestamp {pair[0]!r}")
    return Sample(dict(labels), value, float(pair[0]))


def _redact(text: str) -> str:
    """Error texts from requests can echo headers; never let a bearer token through."""
    words = text.split(" ")
    return " ".join("<redacted>" if index and words[index - 1] == "Bearer" else word
                    for index, word in enumerate(words))
