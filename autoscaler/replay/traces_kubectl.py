"""`kubectl get hpa -w` text -> HpaWatchTrace.

Shell prompts and header lines are skipped. When the text holds prompts, only the output
of `kubectl get hpa` commands is read, so a later `kubectl get po` in the same paste (as in
the seed document) is ignored rather than misread.
"""

from __future__ import annotations

import re
from pathlib import Path

from autoscaler.replay.model import HpaWatchRow, HpaWatchTrace
from autoscaler.replay.traces_common import TraceError

HEADER = ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE")
# A shell prompt (`[root@master-01 ~]#`, `user@host:~$`, `$`) or none, then kubectl.
_PROMPT = re.compile(r"(?:\[[^\]]*\][#$]|\S*[#$>])?\s*kubectl\s.*")
_HPA_COMMAND = re.compile(r"\bkubectl\b.*\bget\s+(?:hpa|horizontalpodautoscalers?)\b")
# The first metric of TARGETS: `37%/20%`, `<unknown>/50%`, newer kubectl's `cpu: 37%/20%`.
_TARGET = re.compile(r"(?:[\w.-]+:\s*)?(?P<current>\d+%|<unknown>)/(?P<target>\d+)%")
# kubectl's HumanDuration: `92s`, `2m1s`, `5m`, `3h`, `2d4h`, `1y20d`.
_AGE = re.compile(r"(?:(?P<y>\d+)y)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
                  r"(?:(?P<s>\d+)s)?")
_AGE_SECONDS = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_age(text: str) -> float | None:
    match = _AGE.fullmatch(text)
    if match is None or not text:
        return None
    return float(sum(int(v) * _AGE_SECONDS[k] for k, v in match.groupdict().items() if v))


def _replicas(text: str, source: str | Path, line: int, column: str) -> int:
    if column == "MINPODS" and text == "<unset>":
        return 1  # the API default for an unset minReplicas
    if not text.isdigit():
        raise TraceError(source, line, f"{column} {text!r} is not a whole number")
    return int(text)


def _row(fields: list[str], source: str | Path, line: int) -> HpaWatchRow:
    # TARGETS may hold spaces (`cpu: 37%/20%, memory: ...`): it is all between REFERENCE
    # and the last four columns.
    name, reference, *targets, min_pods, max_pods, replicas, age = fields
    target_text = " ".join(targets)
    target = _TARGET.match(target_text)
    if target is None:
        raise TraceError(source, line, f"TARGETS {target_text!r} is not a utilization "
                                       "target like 37%/20% or <unknown>/50%")
    age_seconds = parse_age(age)
    if age_seconds is None:
        raise TraceError(source, line, f"AGE {age!r} is not a kubectl age like 92s or 2m1s")
    current = target["current"]
    return HpaWatchRow(
        name=name,
        reference=reference,
        current_percent=None if current == "<unknown>" else int(current[:-1]),
        target_percent=int(target["target"]),
        min_replicas=_replicas(min_pods, source, line, "MINPODS"),
        max_replicas=_replicas(max_pods, source, line, "MAXPODS"),
        replicas=_replicas(replicas, source, line, "REPLICAS"),
        age_seconds=age_seconds,
    )


def _is_prompt(raw: str) -> bool:
    return _PROMPT.fullmatch(raw.strip()) is not None


def parse_kubectl_watch(text: str, source: str | Path) -> HpaWatchTrace:
    rows: list[HpaWatchRow] = []
    lines = text.splitlines()
    # Text without kubectl prompts is all `get hpa` output. With prompts, only what follows
    # a `kubectl get hpa` prompt or an HPA header is read, so a whole terminal log (or the
    # seed document) can be given and other commands' output is left alone.
    reading = not any(_is_prompt(raw) for raw in lines)
    namespaced = False  # `kubectl get hpa -A` adds a leading NAMESPACE column
    for line, raw in enumerate(lines, start=1):
        fields = raw.split()
        if tuple(fields) in (HEADER, ("NAMESPACE", *HEADER)):
            reading, namespaced = True, fields[0] == "NAMESPACE"
            continue
        if _is_prompt(raw):
            reading = _HPA_COMMAND.search(raw) is not None
            continue
        if not fields or not reading:
            continue
        fields = fields[1:] if namespaced else fields
        if len(fields) < 7:
            raise TraceError(source, line, f"expected the columns {' '.join(HEADER)}, got "
                                           f"{len(fields)} fields")
        rows.append(_row(fields, source, line))
    if not rows:
        raise TraceError(source, None, "no `kubectl get hpa` rows found")
    return HpaWatchTrace(tuple(rows), str(source))


def read_kubectl_watch(path_or_text: str | Path) -> HpaWatchTrace:
    """A Path is read from disk; a str is the text itself."""
    if isinstance(path_or_text, Path):
        return parse_kubectl_watch(path_or_text.read_text(encoding="utf-8"), path_or_text)
    return parse_kubectl_watch(path_or_text, "<text>")
