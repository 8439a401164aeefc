"""`kubectl get hpa -w` text -> HpaWatchTrace.

Shell prompts and header lines are skipped. When the text holds prompts, only the output
of `kubectl get hpa` commands is read, so a later `kubectl get po` in the same paste (as in
the seed document) is ignored rather than misread.

Every row must describe an HPA the open-loop replay can run: REFERENCE `Kind/name`, a
utilization target of 1 % or more, 1 <= MINPODS <= MAXPODS <= 10,000 (MAX_REPLICAS),
REPLICAS <= 10,000; numbers have at most 9 digits. The file is streamed twice (once to look
for prompts) with bounded lines, and holds at most `max_watch_rows` rows.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from autoscaler.replay.input_errors import TraceError
from autoscaler.replay.limits import DEFAULT_LIMITS, MAX_REPLICAS, TraceLimits
from autoscaler.replay.model import HpaWatchRow, HpaWatchTrace
from autoscaler.replay.traces_common import bounded_lines, shown

HEADER = ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE")
# A shell prompt (`[root@master-01 ~]#`, `user@host:~$`, `$`) or none, then kubectl.
_PROMPT = re.compile(r"(?:\[[^\]]*\][#$]|\S*[#$>])?\s*kubectl\s.*")
_KUBECTL = re.compile(r"\bkubectl\b")
_GET_HPA = re.compile(r"\bget\s+(?:hpa|horizontalpodautoscalers?)\b")
# The first metric of TARGETS: `37%/20%`, `<unknown>/50%`, newer kubectl's `cpu: 37%/20%`.
_TARGET = re.compile(r"(?:[\w.-]+:\s*)?(?P<current>[0-9]{1,9}%|<unknown>)/"
                     r"(?P<target>[0-9]{1,9})%")
# kubectl's HumanDuration: `92s`, `2m1s`, `5m`, `3h`, `2d4h`, `1y20d`.
_AGE = re.compile(r"(?:(?P<y>[0-9]{1,9})y)?(?:(?P<d>[0-9]{1,9})d)?(?:(?P<h>[0-9]{1,9})h)?"
                  r"(?:(?P<m>[0-9]{1,9})m)?(?:(?P<s>[0-9]{1,9})s)?")
_AGE_SECONDS = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_WHOLE = re.compile(r"[0-9]{1,9}")
_REFERENCE = re.compile(r"[^/\s]+/[^/\s]+")


def parse_age(text: str) -> float | None:
    match = _AGE.fullmatch(text)
    if match is None or not text:
        return None
    return float(sum(int(v) * _AGE_SECONDS[k] for k, v in match.groupdict().items() if v))


def _replicas(text: str, source: str | Path, line: int, column: str) -> int:
    if column == "MINPODS" and text == "<unset>":
        return 1  # the API default for an unset minReplicas
    if not _WHOLE.fullmatch(text):  # ASCII digits only: int() refuses "²", takes "٣"
        raise TraceError(source, line, f"{column} {shown(text)} is not a whole number")
    value = int(text)
    if value > MAX_REPLICAS:
        raise TraceError(source, line, f"{column} {value} is above {MAX_REPLICAS}, the most "
                                       "pods the replay simulates")
    return value


def _check(row: HpaWatchRow, source: str | Path, line: int) -> HpaWatchRow:
    """What the open-loop replay needs of a row, said here with the line number."""
    if not _REFERENCE.fullmatch(row.reference):
        raise TraceError(source, line, f"REFERENCE {shown(row.reference)} is not Kind/name")
    if row.target_percent < 1:
        raise TraceError(source, line, "TARGETS: the utilization target must be at least 1%")
    if row.min_replicas < 1:
        raise TraceError(source, line, "MINPODS must be at least 1")
    if row.min_replicas > row.max_replicas:
        raise TraceError(source, line, f"MINPODS {row.min_replicas} is above MAXPODS "
                                       f"{row.max_replicas}")
    return row


def _row(fields: list[str], source: str | Path, line: int) -> HpaWatchRow:
    # TARGETS may hold spaces (`cpu: 37%/20%, memory: ...`): it is all between REFERENCE
    # and the last four columns.
    name, reference, *targets, min_pods, max_pods, replicas, age = fields
    target_text = " ".join(targets)
    target = _TARGET.match(target_text)
    if target is None:
        raise TraceError(source, line, f"TARGETS {shown(target_text)} is not a utilization "
                                       "target like 37%/20% or <unknown>/50%")
    age_seconds = parse_age(age)
    if age_seconds is None:
        raise TraceError(source, line, f"AGE {shown(age)} is not a kubectl age like 92s or "
                                       "2m1s")
    current = target["current"]
    return _check(HpaWatchRow(
        name=name,
        reference=reference,
        current_percent=None if current == "<unknown>" else int(current[:-1]),
        target_percent=int(target["target"]),
        min_replicas=_replicas(min_pods, source, line, "MINPODS"),
        max_replicas=_replicas(max_pods, source, line, "MAXPODS"),
        replicas=_replicas(replicas, source, line, "REPLICAS"),
        age_seconds=age_seconds,
    ), source, line)


def _is_prompt(raw: str) -> bool:
    return _PROMPT.fullmatch(raw.strip()) is not None


def _is_get_hpa(raw: str) -> bool:
    # Two linear searches: one pattern `kubectl.*get hpa` backtracks quadratically on a
    # long line of `kubectl kubectl ...`.
    kubectl = _KUBECTL.search(raw)
    return kubectl is not None and _GET_HPA.search(raw, kubectl.end()) is not None


Opener = Callable[[], AbstractContextManager[IO[str]]]


def _lines(opener: Opener, source: str | Path, limits: TraceLimits) -> Iterator[str]:
    try:
        with opener() as handle:
            yield from bounded_lines(handle, source, limits)
    except OSError as exc:
        raise TraceError(source, None, f"cannot read: {exc.strerror or exc}") from None


def _parse(opener: Opener, source: str | Path, limits: TraceLimits) -> HpaWatchTrace:
    rows: list[HpaWatchRow] = []
    # Text without kubectl prompts is all `get hpa` output. With prompts, only what follows
    # a `kubectl get hpa` prompt or an HPA header is read, so a whole terminal log (or the
    # seed document) can be given and other commands' output is left alone.
    reading = not any(_is_prompt(raw) for raw in _lines(opener, source, limits))
    namespaced = False  # `kubectl get hpa -A` adds a leading NAMESPACE column
    for line, raw in enumerate(_lines(opener, source, limits), start=1):
        fields = raw.split()
        if tuple(fields) in (HEADER, ("NAMESPACE", *HEADER)):
            reading, namespaced = True, fields[0] == "NAMESPACE"
            continue
        if _is_prompt(raw):
            reading = _is_get_hpa(raw)
            continue
        if not fields or not reading:
            continue
        fields = fields[1:] if namespaced else fields
        if len(fields) < 7:
            raise TraceError(source, line, f"expected the columns {' '.join(HEADER)}, got "
                                           f"{len(fields)} fields")
        if len(rows) >= limits.max_watch_rows:
            raise TraceError(source, line, f"more than {limits.max_watch_rows} rows: raise "
                                           "--max-rows")
        rows.append(_row(fields, source, line))
    if not rows:
        raise TraceError(source, None, "no `kubectl get hpa` rows found")
    return HpaWatchTrace(tuple(rows), str(source))


def parse_kubectl_watch(text: str, source: str | Path,
                        limits: TraceLimits = DEFAULT_LIMITS) -> HpaWatchTrace:
    return _parse(lambda: io.StringIO(text, newline=None), source, limits)


def read_kubectl_watch(path_or_text: str | Path, limits: TraceLimits = DEFAULT_LIMITS
                       ) -> HpaWatchTrace:
    """A Path is read from disk (streamed); a str is the text itself."""
    if isinstance(path_or_text, Path):
        path = path_or_text
        return _parse(lambda: path.open(encoding="utf-8"), path, limits)
    return parse_kubectl_watch(path_or_text, "<text>", limits)
