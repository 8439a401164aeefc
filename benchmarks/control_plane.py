"""Control-plane cost of one controller pass (run by hand; prints figures).

N ElasticAutoscalers x M pods each, spread over K namespaces, in the in-repo fake API
server; one pass of the real daemon loop (official client over HTTP, watch caches synced
beforehand) and the API requests it made, compared with upstream's pattern of one
metrics.k8s.io LIST and one scale GET per HPA. Then the footprint: the daemon as a process
with 100 autoscalers, and the edge agent through the fake MetaServer with one node's pods
(10 of the 100 autoscalers have theirs there): RSS, idle CPU and the API requests of the
steady state.

    .venv/bin/python benchmarks/control_plane.py --specs 100 1000 --pods 10 --namespaces 10
    .venv/bin/python benchmarks/control_plane.py --cpu 1000 3000 10000   # CPU per reconcile
    .venv/bin/python benchmarks/control_plane.py --footprint-only [--python PYTHON]

`--python` runs the daemon and the agent with another interpreter (the checkout on its
PYTHONPATH): a venv with only the runtime dependencies, as the image installs them
(`python -m venv /tmp/rt && /tmp/rt/bin/pip install . && /tmp/rt/bin/pip uninstall -y
edge-autoscaler`), without the test extras (`rich`, which structlog loads when present, and
`kubernetes-validate`, which the client loads when present: ~5 MB of RSS together).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from autoscaler.clock import FakeClock
from autoscaler.control.loop import Loop
from autoscaler.control.reconcile import Reconciler
from autoscaler.control.record import Recorder
from autoscaler.kube.client import connect
from autoscaler.kube.metrics_api import MetricsApiPass
from autoscaler.kube.pods import PodCache
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.targets import TargetCache
from autoscaler.kube.writer import EventRecorder
from autoscaler.runtime.process import configure_logging
from autoscaler.runtime.specsources import SpecSourceOptions, SpecSources
from autoscaler.runtime.wiring import state_stores
from autoscaler.testing import FakeApiServer, write_kubeconfig

NOW = time.time()


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def populate(api: FakeApiServer, specs: int, pods: int, namespaces: int) -> None:
    api.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                      "elasticautoscalers", subresources=("status",))
    for i in range(specs):
        ns = f"ns-{i % namespaces}"
        app = f"app-{i}"
        api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": app, "namespace": ns},
                    "spec": {"replicas": pods, "selector": {"matchLabels": {"app": app}}}})
        api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                    "metadata": {"name": app, "namespace": ns},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": app},
                             "minReplicas": 1, "maxReplicas": pods * 4,
                             "metrics": [{"type": "Resource", "resource": {
                                 "name": "cpu", "target": {"type": "Utilization",
                                                           "averageUtilization": 50}}}]}})
        for p in range(pods):
            name = f"{app}-{p}"
            api.create({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
                        "spec": {"containers": [{"name": "c", "resources": {
                            "requests": {"cpu": "1"}}}]},
                        "status": {"phase": "Running", "startTime": stamp(NOW - 3600),
                                   "conditions": [{"type": "Ready", "status": "True",
                                                   "lastTransitionTime": stamp(NOW - 3500)}]}})
            api.set_pod_metrics(ns, name, {"c": {"cpu": "500m"}}, timestamp=stamp(NOW - 5))


def serve(specs: int, pods: int, namespaces: int) -> None:
    """The fake API server in its own process (`--serve`): populate, print the URL, then
    answer `clear` / `count` lines on stdin (request counts by kind, as JSON) until EOF."""
    import json  # noqa: PLC0415

    with FakeApiServer() as api:
        populate(api, specs, pods, namespaces)
        print(api.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "clear":
                api.clear_requests()
                print("ok", flush=True)
            elif line.strip() == "count":
                kinds = Counter(f"{r.method} {_kind(r.path)}" for r in api.requests)
                print(json.dumps(kinds), flush=True)


def cpu_per_reconcile(specs: int, pods: int, namespaces: int, watch: bool = True) -> float:
    """Daemon CPU per reconcile in a steady pass, the fake API server in another process
    (so only the daemon's own work is measured: time.process_time of this process)."""
    import json  # noqa: PLC0415

    server = subprocess.Popen([sys.executable, __file__, "--serve", str(specs), str(pods),
                               str(namespaces)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert server.stdin is not None and server.stdout is not None
    try:
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            connection = connect(str(write_kubeconfig(Path(tmp) / "kc", url)),
                                 in_cluster=False)
            pod_cache = PodCache(connection.api_client)
            sources = SpecSources(connection.api_client, SpecSourceOptions())
            pod_cache.start()
            for cache in sources.caches:
                cache.start()
            pod_cache.wait_synced(600)
            for cache in sources.caches:
                cache.wait_synced(600)
            targets = TargetCache(connection.api_client) if watch else None
            reconciler = Reconciler(ScaleClient(connection.api_client, 10.0, targets),
                                    pod_cache,
                                    state_stores(connection.api_client, "edge-autoscaler",
                                                 10.0),
                                    Recorder(EventRecorder(connection.api_client)))
            clock = FakeClock(NOW)
            loop = Loop(reconciler, sources.collect,
                        lambda: MetricsApiPass(connection.api_client), clock, workers=4)
            loop.run_pass(wait_all=True)  # the first pass writes every status: not steady
            clock.advance(30.0)  # every autoscaler due again (due times spread over ~1 s)
            if targets is not None:  # the watches the first pass started have listed
                for cache in list(targets._caches.values()):
                    cache.wait_synced(600)
            server.stdin.write("clear\n")
            server.stdin.flush()
            server.stdout.readline()
            cpu, wall = time.process_time(), time.perf_counter()
            results = loop.run_pass(wait_all=True)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            server.stdin.write("count\n")
            server.stdin.flush()
            kinds = json.loads(server.stdout.readline())
            pod_cache.stop()
            for cache in sources.caches:
                cache.stop()
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    per = cpu / max(1, len(results))
    print(f"{specs:>6} autoscalers x {pods} pods ({'watched' if watch else 'GET'} scale reads), "
          "fake API server in its own process: steady "
          f"pass of {len(results)} reconciles {wall:.2f} s wall, daemon CPU {cpu:.2f} s = "
          f"{per * 1000:.2f} ms per reconcile; requests: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return per


def one_pass(specs: int, pods: int, namespaces: int) -> None:
    with FakeApiServer() as api, tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        populate(api, specs, pods, namespaces)
        setup = time.perf_counter() - start
        connection = connect(str(write_kubeconfig(Path(tmp) / "kc", api.url)), in_cluster=False)
        pod_cache = PodCache(connection.api_client)
        sources = SpecSources(connection.api_client, SpecSourceOptions())
        pod_cache.start()
        for cache in sources.caches:
            cache.start()
        pod_cache.wait_synced(120)
        for cache in sources.caches:
            cache.wait_synced(120)
        reconciler = Reconciler(ScaleClient(connection.api_client), pod_cache,
                                state_stores(connection.api_client, "edge-autoscaler", 10.0),
                                Recorder(EventRecorder(connection.api_client)))
        loop = Loop(reconciler, sources.collect,
                    lambda: MetricsApiPass(connection.api_client), FakeClock(NOW), workers=4)
        api.clear_requests()
        start = time.perf_counter()
        results = loop.run_pass()
        elapsed = time.perf_counter() - start
        kinds = Counter(f"{r.method} {_kind(r.path)}" for r in api.requests)
        pod_cache.stop()
        for cache in sources.caches:
            cache.stop()
        print(f"{specs:>6} autoscalers x {pods} pods in {namespaces} namespaces: "
              f"pass {elapsed:.2f} s ({len(results) / elapsed:,.0f} reconciles/s; "
              f"setup {setup:.1f} s); requests: " + ", ".join(
                  f"{k} {v}" for k, v in sorted(kinds.items())))
        upstream = 2 * specs
        ours = kinds["GET metrics"] + kinds["GET scale"]
        print(f"        reads per pass: ours {ours} (scale GET per autoscaler + metrics LIST "
              f"per namespace) vs upstream {upstream} (scale GET + metrics LIST per HPA)")


def _kind(path: str) -> str:
    if "metrics.k8s.io" in path:
        return "metrics"
    if path.endswith("/scale"):
        return "scale"
    if path.endswith("/status"):
        return "status"
    return path.rsplit("/", 2)[-2] if path.count("/") > 3 else path


def footprint(specs: int, watch_seconds: float, python: str) -> None:
    with FakeApiServer() as api, tempfile.TemporaryDirectory() as tmp:
        populate(api, specs, 2, 5)
        kubeconfig = write_kubeconfig(Path(tmp) / "kc", api.url)
        rss, cpu, kinds = _steady(api, [python, "-m", "autoscaler", "run", "--kubeconfig",
                                        str(kubeconfig), "--log-format", "json"],
                                  watch_seconds)
        print(f"daemon with {specs} autoscalers (15 s sync; {python}): RSS {rss:.0f} MB, CPU "
              f"{cpu:.2%} of a core over {watch_seconds:.0f} s steady state; requests: "
              + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))


EDGE_NODE = "edge-1"


def populate_edge(api: FakeApiServer, specs: int, local: int, cgroups: Path) -> None:
    """`specs` autoscalers of 2 pods; the pods of the first `local` on EDGE_NODE (with a
    cgroup each), the others' on cloud nodes (the agent's field selector leaves them out)."""
    populate(api, specs, 2, 5)
    for pod in api.list("v1", "Pod"):
        app = int(pod["metadata"]["labels"]["app"].removeprefix("app-"))
        node = EDGE_NODE if app < local else f"cloud-{app % 3}"
        api.update({**pod, "spec": {**pod["spec"], "nodeName": node}})
        if node == EDGE_NODE:
            cgroup = cgroups / "kubepods" / "burstable" / f"pod{pod['metadata']['uid']}"
            cgroup.mkdir(parents=True)
            (cgroup / "cpu.stat").write_text("usage_usec 1000000\n")


def edge_footprint(specs: int, local: int, watch_seconds: float, python: str) -> None:
    from autoscaler.testing.metaserver import MetaServer  # noqa: PLC0415

    with FakeApiServer() as api, tempfile.TemporaryDirectory() as tmp:
        populate_edge(api, specs, local, Path(tmp) / "cgroup")
        with MetaServer(api.url, heartbeat_seconds=5.0) as meta:
            rss, cpu, kinds = _steady(api, [
                python, "-m", "autoscaler", "edge", "--metaserver", meta.url, "--node-name",
                EDGE_NODE, "--journal", str(Path(tmp) / "journal"), "--cgroup-root",
                str(Path(tmp) / "cgroup"), "--lease-namespace", "default", "--log-format",
                "json"], watch_seconds)
        print(f"edge agent, {local} of {specs} autoscalers with their 2 pods on its node "
              f"(15 s sync; {python}): RSS {rss:.0f} MB, CPU {cpu:.2%} of a core over "
              f"{watch_seconds:.0f} s steady state; requests: "
              + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))


def _steady(api: FakeApiServer, command: list[str], watch_seconds: float
            ) -> tuple[float, float, Counter[str]]:
    """Start `command` (the checkout on its PYTHONPATH), let it start up and pass for 20 s,
    then its RSS, its CPU share and the API requests over `watch_seconds`."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        time.sleep(20)  # start-up and the first passes
        api.clear_requests()
        cpu_before = _cpu_seconds(proc.pid)
        time.sleep(watch_seconds)
        cpu = (_cpu_seconds(proc.pid) - cpu_before) / watch_seconds
        rss = _rss_mb(proc.pid)
        kinds = Counter(f"{r.method} {_kind(r.path)}" for r in api.requests
                        if r.path != "/version")  # the MetaServer's heartbeat, not ours
        if proc.poll() is not None:
            raise RuntimeError(f"{command[2:4]} exited with {proc.returncode}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return rss, cpu, kinds


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def main() -> None:
    configure_logging("json", open(os.devnull, "w"))  # noqa: SIM115 - process lifetime
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--footprint-seconds", type=float, default=60.0)
    parser.add_argument("--footprint-only", action="store_true",
                        help="only the daemon's and the edge agent's RSS and idle CPU")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter the footprint processes run with (default: "
                             "this one), e.g. a venv with only the runtime dependencies")
    parser.add_argument("--cpu", type=int, nargs="*", default=None, metavar="N",
                        help="only measure daemon CPU per steady reconcile at N autoscalers "
                             "(fake API server in its own process), then the ratio of the "
                             "largest to the smallest")
    parser.add_argument("--scale-get", action="store_true",
                        help="with --cpu: read Scale with a GET per autoscaler (upstream's "
                             "pattern) instead of from watched workloads")
    parser.add_argument("--serve", type=int, nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(*args.serve)
        return
    if args.cpu is not None:
        costs = {n: cpu_per_reconcile(n, args.pods, args.namespaces, not args.scale_get)
                 for n in args.cpu or [1000, 3000, 10000]}
        low, high = min(costs), max(costs)
        print(f"per-reconcile CPU at {high:,} vs {low:,} autoscalers: "
              f"{costs[high] / costs[low]:.2f}x")
        return
    if not args.footprint_only:
        for specs in args.specs:
            one_pass(specs, args.pods, args.namespaces)
    footprint(100, args.footprint_seconds, args.python)
    edge_footprint(100, 10, args.footprint_seconds, args.python)


if __name__ == "__main__":
    main()
