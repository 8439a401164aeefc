"""`autoscaler get`: the `kubectl get hpa`-like view of the autoscalers a daemon would manage.

Output: a table (`-o wide` adds DESIRED, LASTSCALE, LIMITEDBY and CONDITIONS), or JSON / YAML:
a list of objects, one per autoscaler, with the wide table's fields (numbers as numbers,
`null` when unknown) plus `errors`, `origin` and the full `conditions`. The field names are
an interface: scripts read them.

`--watch` prints the view, then, like `kubectl get -w`, one more line per autoscaler each
time what the view shows of it changes (table: the row; JSON: one object per line from the
start; YAML: one `---` document each); a deleted autoscaler's last view is printed once with
status "deleted". It polls (a LIST per source every `interval`), stops when `stop` is set
(SIGINT / SIGTERM) or after `count` change lines, and exits 0.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from autoscaler.daemon.app import DaemonOptions
from autoscaler.errors import AutoscalerError
from autoscaler.kube.client import connect
from autoscaler.rfc3339 import format_time
from autoscaler.runtime.specsources import SpecSourceOptions, SpecSources
from autoscaler.specs.model import ManagedSpec

OUTPUTS = ("table", "wide", "json", "yaml")
# (header, field of the JSON object)
COLUMNS = (("NAMESPACE", "namespace"), ("NAME", "name"), ("SOURCE", "source"),
           ("REFERENCE", "reference"), ("TARGETS", "targets"), ("MINPODS", "minPods"),
           ("MAXPODS", "maxPods"), ("REPLICAS", "replicas"), ("STATUS", "status"))
WIDE_COLUMNS = (("DESIRED", "desiredReplicas"), ("LASTSCALE", "lastScaleTime"),
                ("LIMITEDBY", "limitedBy"), ("CONDITIONS", "conditions"))
# -o wide: before STATUS, which stays last (an invalid spec's errors are long)
WIDE = (*COLUMNS[:-1], *WIDE_COLUMNS, COLUMNS[-1])
HEADERS = tuple(header for header, _ in COLUMNS)
SEPARATOR = "   "


@dataclass(frozen=True)
class GetOptions:
    output: str = "table"  # table | wide | json | yaml
    watch: bool = False
    interval_seconds: float = 2.0  # --watch: between two LISTs
    count: int | None = None  # --watch: stop after this many change lines (None: never)


def record(managed: ManagedSpec) -> dict[str, Any]:
    """One autoscaler as `-o json` shows it (the keys are always all there)."""
    raw_status = managed.raw.get("status")
    status = raw_status if isinstance(raw_status, Mapping) else {}
    explanation = status.get("explanation")
    limited_by = explanation.get("limitedBy") if isinstance(explanation, Mapping) else None
    state = managed.state.status if managed.state is not None else None
    spec = managed.spec
    conditions = [] if state is None else [
        {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
         "lastTransitionTime": None if c.last_transition_time is None
         else format_time(c.last_transition_time)}
        for c in state.conditions]
    return {
        "namespace": managed.namespace, "name": managed.name, "source": managed.source,
        "reference": managed.reference or None,
        "targets": str(status["targets"]) if status.get("targets") else None,
        "minPods": spec.min_replicas if spec is not None else None,
        "maxPods": spec.max_replicas if spec is not None else None,
        "replicas": state.current_replicas if state is not None else None,
        "desiredReplicas": state.desired_replicas if state is not None else None,
        "status": "invalid" if spec is None else "dry-run" if managed.dry_run else "active",
        "errors": list(managed.errors),
        "lastScaleTime": None if state is None or state.last_scale_time is None
        else format_time(state.last_scale_time),
        "limitedBy": str(limited_by) if limited_by else None,
        "origin": managed.origin or None,
        "conditions": conditions,
    }


def cells(item: Mapping[str, Any], wide: bool = False) -> tuple[str, ...]:
    """A table row of a `record`."""
    def text(field: str) -> str:
        value = item[field]
        if field == "targets":
            return str(value or "<unknown>")
        if field == "status" and value == "invalid":
            return "invalid: " + "; ".join(item["errors"])
        if field == "conditions":
            return ",".join(c["reason"] for c in value if c["reason"]) or "-"
        return "-" if value is None else str(value)

    return tuple(text(field) for _, field in (WIDE if wide else COLUMNS))


def headers(wide: bool) -> tuple[str, ...]:
    return tuple(header for header, _ in (WIDE if wide else COLUMNS))


def aligned(row: Sequence[str], widths: Sequence[int]) -> str:
    return SEPARATOR.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()


class View:
    """How one output format prints the whole list, and one autoscaler in a watch."""

    def __init__(self, output: str, watching: bool) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"output {output!r}: expected one of {', '.join(OUTPUTS)}")
        self.output = output
        self.watching = watching
        self.widths: list[int] = []

    def item(self, managed: ManagedSpec, deleted: bool = False) -> tuple[str, ...]:
        """What is printed of one autoscaler (compared to spot a change)."""
        data = record(managed)
        if deleted:
            data["status"] = "deleted"
        if self.output in ("table", "wide"):
            return cells(data, self.output == "wide")
        if self.output == "json":
            return (json.dumps(data),)
        return ("---\n" + yaml.safe_dump(data, sort_keys=False).rstrip("\n"),)

    def first(self, items: Sequence[tuple[str, ...]], out: TextIO) -> None:
        if self.output in ("table", "wide"):
            rows = [headers(self.output == "wide"), *items]
            self.widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            for row in rows:
                print(aligned(row, self.widths), file=out)
        elif self.watching:
            for item in items:
                print(item[0], file=out)
        elif self.output == "json":
            print(json.dumps([json.loads(item[0]) for item in items], indent=2), file=out)
        else:
            documents = [yaml.safe_load(item[0]) for item in items]
            print(yaml.safe_dump(documents, sort_keys=False).rstrip("\n"), file=out)
        out.flush()

    def change(self, item: tuple[str, ...], out: TextIO) -> None:
        if self.output in ("table", "wide"):
            print(aligned(item, self.widths), file=out, flush=True)
        else:
            print(item[0], file=out, flush=True)


Fetch = Callable[[], list[ManagedSpec]]


def show(fetch: Fetch, options: GetOptions, out: TextIO, err: TextIO = sys.stderr,
         stop: threading.Event | None = None) -> int:
    """Print the view once, or watch it (see the module doc). The first fetch's failure is
    the command's (raised); a failed fetch while watching is one line on `err`, and the
    watch goes on."""
    view = View(options.output, options.watch)
    found = {m.key: m for m in fetch()}
    shown = {key: view.item(m) for key, m in sorted(found.items())}
    view.first(list(shown.values()), out)
    if not options.watch:
        return 0
    stop = stop or threading.Event()
    changes = 0
    while options.count is None or changes < options.count:
        if stop.wait(options.interval_seconds):
            break
        try:
            now = {m.key: m for m in fetch()}
        except AutoscalerError as exc:
            print(f"warning: {exc} (still watching)", file=err, flush=True)
            continue
        updates = [(key, view.item(m)) for key, m in sorted(now.items())]
        updates += [(key, view.item(m, deleted=True)) for key, m in sorted(found.items())
                    if key not in now]
        found = now
        for key, item in updates:
            if shown.get(key) == item:
                continue
            view.change(item, out)
            changes += 1
            if key in now:
                shown[key] = item
            else:
                shown.pop(key, None)
            if options.count is not None and changes >= options.count:
                break
    return 0


def lister(options: DaemonOptions) -> Fetch:
    """A fresh LIST of every spec source per call, sorted by key."""
    connection = connect(options.kubeconfig, options.context)
    specs = SpecSources(connection.api_client, SpecSourceOptions(
        options.namespaces, options.spec_dir, options.crd, options.sedna))

    def fetch() -> list[ManagedSpec]:
        for cache in specs.caches:
            cache.list_now()
        return sorted(specs.collect(), key=lambda m: m.key)
    return fetch


def print_table(options: DaemonOptions, out: TextIO, get: GetOptions | None = None,
                stop: threading.Event | None = None) -> int:
    return show(lister(options), get or GetOptions(), out, sys.stderr, stop)
