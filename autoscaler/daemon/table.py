"""`autoscaler get`: the `kubectl get hpa`-like table of managed autoscalers."""

from __future__ import annotations

from typing import TextIO

from autoscaler.daemon.app import DaemonOptions
from autoscaler.kube.client import connect
from autoscaler.runtime.specsources import SpecSourceOptions, SpecSources
from autoscaler.specs.model import ManagedSpec

HEADERS = ("NAMESPACE", "NAME", "SOURCE", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
           "REPLICAS", "STATUS")


def row(managed: ManagedSpec) -> tuple[str, ...]:
    current = managed.state.status.current_replicas if managed.state is not None else 0
    raw_status = managed.raw.get("status") or {}
    if managed.spec is None:
        return (managed.namespace, managed.name, managed.source, "-", "-", "-", "-", "-",
                "invalid: " + "; ".join(managed.errors))
    spec = managed.spec
    return (managed.namespace, managed.name, managed.source, managed.reference,
            str(raw_status.get("targets") or "<unknown>"), str(spec.min_replicas),
            str(spec.max_replicas), str(current),
            "dry-run" if managed.dry_run else "active")


def print_table(options: DaemonOptions, out: TextIO) -> int:
    connection = connect(options.kubeconfig, options.context)
    specs = SpecSources(connection.api_client, SpecSourceOptions(
        options.namespaces, options.spec_dir, options.crd, options.sedna))
    for cache in specs.caches:
        cache.list_now()
    rows = [HEADERS, *(row(m) for m in sorted(specs.collect(), key=lambda m: m.key))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    for r in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip(),
              file=out)
    return 0
