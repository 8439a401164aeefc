"""`autoscaler get`: the `kubectl get hpa`-like view of the autoscalers a daemon would manage.

Output: a table (`-o wide` adds DESIRED, LASTSCALE, LIMITEDBY, CONDITIONS, SHARD and OWNER),
or JSON / YAML: a list of objects, one per autoscaler, with the wide table's fields (numbers
as numbers, `null` when unknown) plus `errors`, `origin` and the full `conditions`. The field
names are an interface: scripts read them.

Owners (daemons run with `--shards`): one LIST of the shard Leases in the state namespace
tells which replica holds each shard. `shard` is the autoscaler's shard (`shards.shard_of`
of its target, as the daemon computes it) and `owner` the live holder of that shard's Lease:
* no shard Lease at all (unsharded daemons): `shard: null, owner: null`; the default table
  has no OWNER column then (wide shows `-`);
* a shard whose Lease is free or expired (nobody reconciles it now): `shard: 7, owner: null`;
* the LIST failed (e.g. 403: no RBAC to read Leases): `owner: "?"`, one warning on stderr
  (`get` still shows the rest).
A Lease counts as live until its takeover time with run's default --max-clock-skew (2 s):
until then no other replica may take it over.

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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import yaml
from kubernetes import client

from autoscaler.daemon.app import DaemonOptions
from autoscaler.errors import AutoscalerError
from autoscaler.kube.client import connect
from autoscaler.ownership.lease import list_leases
from autoscaler.ownership.shards import (
    KIND_LABEL,
    SHARD_COUNT,
    SHARD_KIND,
    owners_by_shard,
    shard_from_lease_name,
    shard_of,
)
from autoscaler.rfc3339 import format_time
from autoscaler.runtime.specsources import SpecSourceOptions, SpecSources
from autoscaler.runtime.wiring import shard_key
from autoscaler.specs.model import ManagedSpec

OUTPUTS = ("table", "wide", "json", "yaml")
# (header, field of the JSON object)
COLUMNS = (("NAMESPACE", "namespace"), ("NAME", "name"), ("SOURCE", "source"),
           ("REFERENCE", "reference"), ("TARGETS", "targets"), ("MINPODS", "minPods"),
           ("MAXPODS", "maxPods"), ("REPLICAS", "replicas"), ("STATUS", "status"))
WIDE_COLUMNS = (("DESIRED", "desiredReplicas"), ("LASTSCALE", "lastScaleTime"),
                ("LIMITEDBY", "limitedBy"), ("CONDITIONS", "conditions"),
                ("SHARD", "shard"), ("OWNER", "owner"))
# -o wide: before STATUS, which stays last (an invalid spec's errors are long)
WIDE = (*COLUMNS[:-1], *WIDE_COLUMNS, COLUMNS[-1])
# the default table when the daemons are sharded (or the Leases could not be read)
OWNED = (*COLUMNS[:-1], ("OWNER", "owner"), COLUMNS[-1])
HEADERS = tuple(header for header, _ in COLUMNS)
SEPARATOR = "   "
UNKNOWN_OWNER = "?"
# A shard Lease is live until its takeover time: renew + duration + this (run's default
# --max-clock-skew; `get` does not know the daemons' flags).
MAX_CLOCK_SKEW_SECONDS = 2.0


@dataclass(frozen=True)
class GetOptions:
    output: str = "table"  # table | wide | json | yaml
    watch: bool = False
    interval_seconds: float = 2.0  # --watch: between two LISTs
    count: int | None = None  # --watch: stop after this many change lines (None: never)
    state_namespace: str = "edge-autoscaler"  # where the shard Leases are


@dataclass(frozen=True)
class Owners:
    """The shard Leases as one LIST saw them."""

    sharded: bool = False  # some shard Lease exists: the daemons run with --shards
    holders: Mapping[int, str] | None = None  # shard -> live holder; free/expired: absent
    error: str = ""  # the LIST failed: who owns what is unknown

    def of(self, managed: ManagedSpec) -> tuple[int | None, str | None]:
        """(shard, owner) of one autoscaler, as `record` shows them."""
        if not (self.sharded or self.error):
            return None, None
        shard = shard_of(shard_key(managed), SHARD_COUNT)
        if self.error:
            return shard, UNKNOWN_OWNER
        return shard, (self.holders or {}).get(shard)


UNSHARDED = Owners()
ReadOwners = Callable[[], Owners]


def owners_from(leases: Mapping[str, Any], now: float) -> Owners:
    """`Owners` from `list_leases`' answer: the Leases named like shard Leases of this
    SHARD_COUNT (others with the label are ignored)."""
    states = {shard: observed.state for name, observed in leases.items()
              if (shard := shard_from_lease_name(name, SHARD_COUNT)) is not None}
    return Owners(sharded=bool(states),
                  holders=owners_by_shard(states, now, MAX_CLOCK_SKEW_SECONDS))


def record(managed: ManagedSpec, owners: Owners = UNSHARDED) -> dict[str, Any]:
    """One autoscaler as `-o json` shows it (the keys are always all there)."""
    raw_status = managed.raw.get("status")
    status = raw_status if isinstance(raw_status, Mapping) else {}
    explanation = status.get("explanation")
    limited_by = explanation.get("limitedBy") if isinstance(explanation, Mapping) else None
    state = managed.state.status if managed.state is not None else None
    spec = managed.spec
    shard, owner = owners.of(managed)
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
        "shard": shard, "owner": owner,
        "status": "invalid" if spec is None else "dry-run" if managed.dry_run else "active",
        "errors": list(managed.errors),
        "lastScaleTime": None if state is None or state.last_scale_time is None
        else format_time(state.last_scale_time),
        "limitedBy": str(limited_by) if limited_by else None,
        "origin": managed.origin or None,
        "conditions": conditions,
    }


def columns(wide: bool, owner_column: bool = False) -> tuple[tuple[str, str], ...]:
    return WIDE if wide else OWNED if owner_column else COLUMNS


def cells(item: Mapping[str, Any], wide: bool = False, owner_column: bool = False
          ) -> tuple[str, ...]:
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

    return tuple(text(field) for _, field in columns(wide, owner_column))


def headers(wide: bool, owner_column: bool = False) -> tuple[str, ...]:
    return tuple(header for header, _ in columns(wide, owner_column))


def aligned(row: Sequence[str], widths: Sequence[int]) -> str:
    return SEPARATOR.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()


class View:
    """How one output format prints the whole list, and one autoscaler in a watch."""

    def __init__(self, output: str, watching: bool, owner_column: bool = False) -> None:
        if output not in OUTPUTS:
            raise ValueError(f"output {output!r}: expected one of {', '.join(OUTPUTS)}")
        self.output = output
        self.watching = watching
        self.owner_column = owner_column  # the default table: decided by the first view
        self.widths: list[int] = []

    def item(self, managed: ManagedSpec, owners: Owners = UNSHARDED, deleted: bool = False
             ) -> tuple[str, ...]:
        """What is printed of one autoscaler (compared to spot a change)."""
        data = record(managed, owners)
        if deleted:
            data["status"] = "deleted"
        if self.output in ("table", "wide"):
            return cells(data, self.output == "wide", self.owner_column)
        if self.output == "json":
            return (json.dumps(data),)
        return ("---\n" + yaml.safe_dump(data, sort_keys=False).rstrip("\n"),)

    def first(self, items: Sequence[tuple[str, ...]], out: TextIO) -> None:
        if self.output in ("table", "wide"):
            rows = [headers(self.output == "wide", self.owner_column), *items]
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


class _OwnerReads:
    """`read_owners` with its failure said once on `err` (again only when it changes)."""

    def __init__(self, read_owners: ReadOwners | None, err: TextIO) -> None:
        self.read_owners = read_owners
        self.err = err
        self.said = ""

    def __call__(self) -> Owners:
        if self.read_owners is None:
            return UNSHARDED
        owners = self.read_owners()
        if owners.error and owners.error != self.said:
            print(f"warning: {owners.error} (OWNER shows {UNKNOWN_OWNER})", file=self.err,
                  flush=True)
        self.said = owners.error
        return owners


def show(fetch: Fetch, options: GetOptions, out: TextIO, err: TextIO = sys.stderr,
         stop: threading.Event | None = None, read_owners: ReadOwners | None = None) -> int:
    """Print the view once, or watch it (see the module doc). The first fetch's failure is
    the command's (raised); a failed fetch while watching is one line on `err`, and the
    watch goes on. `read_owners` (one LIST of the shard Leases per view) never raises: a
    failure is an `Owners` with an error, said once on `err`."""
    found = {m.key: m for m in fetch()}
    owner_reads = _OwnerReads(read_owners, err)
    owners = owner_reads()
    view = View(options.output, options.watch, owners.sharded or bool(owners.error))
    shown = {key: view.item(m, owners) for key, m in sorted(found.items())}
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
        owners = owner_reads()
        updates = [(key, view.item(m, owners)) for key, m in sorted(now.items())]
        updates += [(key, view.item(m, owners, deleted=True))
                    for key, m in sorted(found.items()) if key not in now]
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


def lister(options: DaemonOptions, api_client: client.ApiClient | None = None
           ) -> Fetch:
    """A fresh LIST of every spec source per call, sorted by key."""
    if api_client is None:
        api_client = connect(options.kubeconfig, options.context).api_client
    specs = SpecSources(api_client, SpecSourceOptions(
        options.namespaces, options.spec_dir, options.crd, options.sedna))

    def fetch() -> list[ManagedSpec]:
        for cache in specs.caches:
            cache.list_now()
        return sorted(specs.collect(), key=lambda m: m.key)
    return fetch


def owner_reader(api_client: client.ApiClient, namespace: str, timeout_seconds: float = 10.0,
                 clock: Callable[[], float] = time.time) -> ReadOwners:
    """One LIST of the shard Leases in `namespace` per call; a failure (403, timeout) is an
    `Owners` with its error, never raised: `get` shows the rest without owners."""
    selector = f"{KIND_LABEL}={SHARD_KIND}"

    def read() -> Owners:
        try:
            leases = list_leases(api_client, namespace, selector, timeout_seconds)
        except AutoscalerError as exc:
            return Owners(error=f"cannot read the shard Leases: {exc}")
        return owners_from(leases, clock())
    return read


def print_table(options: DaemonOptions, out: TextIO, get: GetOptions | None = None,
                stop: threading.Event | None = None) -> int:
    get = get or GetOptions()
    api_client = connect(options.kubeconfig, options.context).api_client
    return show(lister(options, api_client), get, out, sys.stderr, stop,
                owner_reader(api_client, get.state_namespace))
