"""The edge agent as `autoscaler edge` assembles it (`build_edge`), on a FileClock.

`autoscaler edge` has no `--clock-file`, and an agent inside its own network namespace
(`ip netns exec`) cannot share the test's in-process FakeClock; this runner keeps the
production code untouched: same options, same `run_loop`, only the clock is time as data
(the agent reads the time from FILE and writes FILE.done after each pass).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autoscaler.clock import FileClock
from autoscaler.edge.app import EdgeOptions, build_edge
from autoscaler.runtime.process import configure_logging, run_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="partition_edge_runner.py")
    parser.add_argument("--clock-file", type=Path, required=True)
    parser.add_argument("--metaserver", required=True)
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--cgroup-root", type=Path, required=True)
    parser.add_argument("--lease-namespace", default="edge-autoscaler")
    parser.add_argument("--request-timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    configure_logging("json", sys.stderr)
    options = EdgeOptions(node_name=args.node_name, journal=args.journal,
                          metaserver=args.metaserver, cgroup_root=args.cgroup_root,
                          lease_namespace=args.lease_namespace,
                          request_timeout_seconds=args.request_timeout)
    agent = build_edge(options, FileClock(args.clock_file))
    try:
        run_loop(agent.loop, [agent.pods, *agent.specs.caches], None, False)
    finally:
        agent.journal.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
