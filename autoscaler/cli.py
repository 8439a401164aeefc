"""The `autoscaler` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import shtab

from autoscaler import conformance
from autoscaler.errors import AutoscalerError, UsageError
from autoscaler.llmproxy.cli import add_arguments as llm_proxy_arguments
from autoscaler.replay.arguments import _replay_options, _replay_parser

if TYPE_CHECKING:
    from autoscaler.daemon.app import DaemonOptions

# Each command imports what it needs when it runs: the daemon must not pay for matplotlib
# at start-up, nor the replay for the Kubernetes client.

DISTRIBUTION = "edge-autoscaler"
SHELLS = ("bash", "zsh")  # shtab's tcsh script completes subcommands only
LOG_LEVELS = ("debug", "info", "warning", "error")
# Lease timing (client-go's leader-election defaults), for --writer-leases and --shards.
LEASE_DEFAULTS = {"lease_duration": 15.0, "renew_deadline": 10.0, "lease_retry": 2.0,
                  "max_clock_skew": 2.0}


def version() -> str:
    """The installed distribution's version (its metadata, as pip installed it)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class OneLineErrorParser(argparse.ArgumentParser):
    """A mistake on a subcommand's line is one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message.removeprefix('argument ')} "
                     f"(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="autoscaler", description=__doc__,
        epilog="Exit status: 0 done, 1 runtime failure, 2 usage error. --debug (anywhere) "
               "shows the traceback of an unexpected failure.")
    parser.add_argument("--version", action="version", version=f"autoscaler {version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=OneLineErrorParser)
    conf = sub.add_parser("conformance", help="run upstream-derived HPA conformance case files")
    _complete(conf.add_argument("files", nargs="+", help="case files (JSON, see FORMAT.md)"),
              shtab.FILE)
    sub.add_parser("demo", help="replay the default scenario (the seed's LlamaEdge HPA under "
                                "a real LLM trace) in-process, no cluster needed")
    _replay_parser(sub.add_parser(
        "replay", help="what would these HPA specs have done to this workload?"))
    _run_parser(sub.add_parser("run", help="the in-cluster daemon"))
    _get_parser(sub.add_parser("get", help="the HPA-like table of the autoscalers this "
                                           "daemon would manage (-o wide|json|yaml, --watch)"))
    _edge_parser(sub.add_parser("edge", help="the edge agent (DaemonSet on KubeEdge nodes)"))
    llm_proxy_arguments(sub.add_parser(
        "llm-proxy", help="metering reverse proxy (sidecar) for an OpenAI-compatible LLM "
                          "server: requests in flight/waiting, tokens, TTFT on /metrics"))
    completion = sub.add_parser(
        "completion", help="print the shell completion script",
        description="Print the completion script of SHELL on stdout.",
        epilog='bash: eval "$(autoscaler completion bash)" in ~/.bashrc; zsh: autoscaler '
               "completion zsh > a directory of $fpath, named _autoscaler")
    completion.add_argument("shell", choices=SHELLS, help="the shell: %(choices)s")
    return parser


def _complete(action: argparse.Action, what: Mapping[str, object]) -> None:
    """Tell shtab what completes this option's value (files, directories)."""
    action.complete = what  # type: ignore[attr-defined]


def _sources_args(p: argparse.ArgumentParser) -> None:
    _complete(p.add_argument("--spec-dir", type=Path,
                             help="also the HPA YAML files of this directory (e.g. a "
                                  "ConfigMap)"), shtab.DIRECTORY)
    p.add_argument("--no-crd", action="store_true", help="do not read ElasticAutoscalers")
    p.add_argument("--sedna", action="store_true",
                   help="also Sedna JointInferenceService edgeWorker.hpa / cloudWorker.hpa")


def _log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-format", choices=["auto", "json", "console"], default="auto",
                   help="log lines on stderr: JSON, or console colours; auto: console on a "
                        "terminal, else JSON (default auto)")
    p.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS, default="info",
                   help="least severe level logged: %(choices)s (default info; a decision "
                        "logs at info when it changes, at debug when it repeats)")


def _get_parser(p: argparse.ArgumentParser) -> None:
    _connection_args(p)
    _sources_args(p)
    p.add_argument("-o", "--output", choices=["wide", "json", "yaml"],
                   help="wide: more columns (desired replicas, last scale, limiting stage, "
                        "conditions); json/yaml: a list of objects with the wide table's "
                        "fields plus errors, origin and conditions (default: the table)")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after the view, print a line per autoscaler each time it changes "
                        "(json: an object per line; yaml: a document each) until Ctrl-C")
    p.add_argument("--watch-interval", type=_seconds(0.01, 3600), metavar="SECONDS",
                   help="with --watch: seconds between two reads (default 2)")
    p.add_argument("--watch-count", type=_count(1, 1_000_000), metavar="N",
                   help="with --watch: exit after N change lines (scripts, tests)")
    p.add_argument("--state-namespace", default=os.environ.get("POD_NAMESPACE",
                                                               "edge-autoscaler"),
                   help="namespace of the shard Leases of `run --shards` daemons: OWNER "
                        "is the replica holding each autoscaler's shard (default "
                        "$POD_NAMESPACE, else edge-autoscaler)")


def _connection_args(p: argparse.ArgumentParser) -> None:
    _complete(p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then "
                                                  "$KUBECONFIG / ~/.kube/config)"),
              shtab.FILE)
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("--namespace", "-n", action="append", default=[],
                   help="only these namespaces (repeatable; default all)")


def _edge_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metaserver", help="the node's MetaServer, e.g. http://127.0.0.1:10550; "
                                        "https:// with KubeEdge's requireAuthorization (TLS "
                                        "verified, the pod's service-account token) (default: "
                                        "kubeconfig / in-cluster)")
    _complete(p.add_argument("--metaserver-ca", type=Path,
                             help="with an https:// --metaserver: the CA bundle its "
                                  "certificate must verify against (default: the pod's "
                                  "service-account ca.crt)"), shtab.FILE)
    _complete(p.add_argument("--metaserver-token-file", type=Path,
                             help="with an https:// --metaserver: the bearer token file, "
                                  "re-read before each request (default: the pod's "
                                  "service-account token)"), shtab.FILE)
    _complete(p.add_argument("--kubeconfig", help="kubeconfig file when there is no "
                                                  "--metaserver (default: in-cluster, then "
                                                  "$KUBECONFIG / ~/.kube/config)"),
              shtab.FILE)
    p.add_argument("--node-name", default=os.environ.get("NODE_NAME", ""),
                   help="this node: only its pods count (required; default $NODE_NAME)")
    p.add_argument("--namespace", "-n", action="append", default=[],
                   help="only these namespaces (repeatable; default all)")
    _sources_args(p)
    _complete(p.add_argument("--cgroup-root", type=Path, default=Path("/sys/fs/cgroup"),
                             help="where the node's cgroups are mounted, read for pod CPU "
                                  "(default /sys/fs/cgroup)"), shtab.DIRECTORY)
    p.add_argument("--stats-url", default="",
                   help="read pod CPU from the kubelet/edged Summary API at this URL instead "
                        "of the cgroups")
    _complete(p.add_argument("--journal", type=Path,
                             default=Path("/var/lib/edge-autoscaler/journal"),
                             help="the offline journal of scale writes refused while the "
                                  "cloud is unreachable (default "
                                  "/var/lib/edge-autoscaler/journal)"), shtab.FILE)
    p.add_argument("--lease-namespace",
                   default=os.environ.get("POD_NAMESPACE", "edge-autoscaler"),
                   help="namespace of the writer and state Leases (default $POD_NAMESPACE, "
                        "else edge-autoscaler)")
    p.add_argument("--identity", default="", help="Lease holder identity (default: node name)")
    p.add_argument("--sync-period", type=_seconds(1, 3600), default=15.0,
                   help="seconds between passes (default 15)")
    p.add_argument("--metrics-addr", help="serve /metrics, /healthz, /readyz, e.g. :8080")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--now", type=float,
                   help="with --once: evaluate the pass as of this Unix time")
    _log_args(p)


def _run_parser(p: argparse.ArgumentParser) -> None:
    _connection_args(p)
    _sources_args(p)
    p.add_argument("--dry-run", action="store_true",
                   help="compute the decisions and print them as a table (a line when an "
                        "autoscaler's decision changes); never write to the cluster")
    p.add_argument("--every-sync", action="store_true",
                   help="with --dry-run: print every decision of every pass, changed or not")
    p.add_argument("--sync-period", type=_seconds(1, 3600), default=15.0,
                   help="seconds between passes of an autoscaler (default 15)")
    p.add_argument("--scale-reads", choices=("watch", "get"), default="watch",
                   help="where the targets' Scale is read: 'watch' caches Deployments, "
                        "StatefulSets and ReplicaSets (no GET per autoscaler per pass; needs "
                        "list/watch on them, else falls back to GET); 'get' reads the scale "
                        "subresource every pass, as upstream's controller does (default: watch)")
    p.add_argument("--workers", type=_count(1, 256), default=4,
                   help="concurrent reconciles (default 4)")
    p.add_argument("--metrics-addr", help="serve /metrics, /healthz, /readyz, e.g. :8080")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--now", type=float,
                   help="with --once: evaluate the pass as of this Unix time (reproduce a "
                        "decision, or test without waiting for real windows)")
    _log_args(p)
    _complete(p.add_argument("--clock-file", type=Path,
                             help="read the time from this file (Unix seconds) instead of the "
                                  "system clock; after each pass FILE.done gets that time "
                                  "(end-to-end tests)"), shtab.FILE)
    p.add_argument("--request-timeout", type=_seconds(0.1, 300), default=10.0,
                   help="timeout of one API or Prometheus call, seconds (default 10)")
    p.add_argument("--prometheus-url", help="Prometheus for Pods/Object/External metrics "
                                            "and as the fallback for CPU/memory")
    _complete(p.add_argument("--prometheus-token-file", type=Path, help="bearer token file"),
              shtab.FILE)
    _complete(p.add_argument("--prometheus-ca-file", type=Path,
                             help="CA bundle to verify TLS with"), shtab.FILE)
    p.add_argument("--prometheus-insecure-skip-tls-verify", action="store_true",
                   help="do not verify Prometheus' certificate (not recommended)")
    p.add_argument("--prometheus-rate-window", type=_seconds(1, 3600), default=60.0,
                   help="rate() window for CPU, seconds (default 60)")
    p.add_argument("--writer-leases", action="store_true",
                   help="hold a Lease per target (single writer with edge agents / HA)")
    p.add_argument("--shards", action="store_true",
                   help="run as one of several replicas: autoscalers are split into "
                        "32 shards, each owned through a Lease in "
                        "--state-namespace; this replica reconciles only the shards it holds")
    p.add_argument("--lease-duration", type=_seconds(1, 3600), default=None,
                   help="seconds a shard or writer Lease lasts without renewal (default 15)")
    p.add_argument("--renew-deadline", type=_seconds(0.1, 3600), default=None,
                   help="seconds after its last renewal a holder stops writing (default 10; "
                        "must be below lease duration - 2 x max clock skew)")
    p.add_argument("--lease-retry", type=_seconds(0.1, 600), default=None,
                   help="seconds between shard Lease steps (read all, renew held; default 2)")
    p.add_argument("--max-clock-skew", type=_seconds(0, 600), default=None,
                   help="bound on clock differences between replicas and edge agents, "
                        "seconds (default 2)")
    p.add_argument("--identity", default="",
                   help="Lease holder identity, unique per replica (default: $POD_NAME, else "
                        "the hostname)")
    p.add_argument("--state-namespace", default=os.environ.get("POD_NAMESPACE",
                                                               "edge-autoscaler"),
                   help="namespace of the writer Leases and of the state Leases of "
                        "file/Sedna autoscalers")


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 a runtime failure, 2 a usage error (argparse's too). Every
    mistake is one line on stderr saying what is wrong and what to do; `--debug` (anywhere
    on the line) shows the traceback of an unexpected failure instead."""
    words = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in words
    try:
        return _run([w for w in words if w != "--debug"])
    except BrokenPipeError:  # `autoscaler demo | head` is fine
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AutoscalerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            raise
        print(f"error: internal: {type(exc).__name__}: {str(exc)[:300]} (run again with "
              "--debug for the traceback, and report it)", file=sys.stderr)
        return 1


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "completion":
        sys.stdout.write(shtab.complete(parser, shell=args.shell))
        return 0
    if args.command == "conformance":
        return conformance.main(args.files, sys.stdout)
    if args.command in ("demo", "replay"):
        from autoscaler.replay.command import ReplayOptions, run_replay  # noqa: PLC0415
        options = ReplayOptions() if args.command == "demo" else _replay_options(args)
        return run_replay(options, sys.stdout)
    if args.command == "run":
        _check_run_flags(args)
        from autoscaler.daemon.app import run_daemon  # noqa: PLC0415
        clock = None
        if args.clock_file is not None:
            from autoscaler.clock import FileClock  # noqa: PLC0415
            clock = FileClock(args.clock_file)
        return _exit_now(run_daemon(_daemon_options(args, with_loop=True), clock=clock))
    if args.command == "edge":
        from autoscaler.edge.app import EdgeOptions, run_edge  # noqa: PLC0415 - see top
        return _exit_now(run_edge(EdgeOptions(
            node_name=args.node_name, journal=args.journal, metaserver=args.metaserver,
            metaserver_ca=args.metaserver_ca, metaserver_token_file=args.metaserver_token_file,
            kubeconfig=args.kubeconfig, namespaces=tuple(args.namespace),
            spec_dir=args.spec_dir, crd=not args.no_crd, sedna=args.sedna,
            cgroup_root=args.cgroup_root, stats_url=args.stats_url,
            lease_namespace=args.lease_namespace,
            identity=args.identity, sync_period_seconds=args.sync_period,
            metrics_addr=args.metrics_addr, once=args.once, now=args.now,
            log_format=args.log_format, log_level=args.log_level)))
    if args.command == "llm-proxy":
        from autoscaler.llmproxy.cli import run_from_args  # noqa: PLC0415 - aiohttp is heavy
        return run_from_args(args)
    if args.command == "get":
        return _get(args)
    return 2


def _get(args: argparse.Namespace) -> int:
    """`get`, once or --watch: SIGINT / SIGTERM end a watch with status 0."""
    for flag, name in (("watch_interval", "--watch-interval"), ("watch_count", "--watch-count")):
        if getattr(args, flag) is not None and not args.watch:
            raise UsageError(f"{name} needs --watch")
    from autoscaler.daemon.table import GetOptions, print_table  # noqa: PLC0415
    from autoscaler.runtime.process import stop_on_signals  # noqa: PLC0415
    stop = stop_on_signals() if args.watch else None
    options = GetOptions(output=args.output or "table", watch=args.watch,
                         interval_seconds=args.watch_interval or 2.0, count=args.watch_count,
                         state_namespace=args.state_namespace)
    return print_table(_daemon_options(args, with_loop=False), sys.stdout, options, stop)


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not low <= value <= high:  # NaN fails this too
            raise argparse.ArgumentTypeError(f"{text}: must be between {low:g} and {high:g}")
        return value
    return parse


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text}: must be between {low} and {high}")
        return value
    return parse


def _check_run_flags(args: argparse.Namespace) -> None:
    """Flags that only mean something together: refuse them alone instead of ignoring."""
    needs = [("prometheus_token_file", "prometheus_url", "--prometheus-token-file",
              "--prometheus-url"),
             ("prometheus_ca_file", "prometheus_url", "--prometheus-ca-file",
              "--prometheus-url"),
             ("prometheus_insecure_skip_tls_verify", "prometheus_url",
              "--prometheus-insecure-skip-tls-verify", "--prometheus-url"),
             ("every_sync", "dry_run", "--every-sync", "--dry-run"),
             ("now", "once", "--now", "--once")]
    for flag, required, flag_name, required_name in needs:
        if getattr(args, flag) and not getattr(args, required):
            raise UsageError(f"{flag_name} needs {required_name}")
    if args.shards and (args.once or args.dry_run):
        raise UsageError("--shards runs one of several live replicas: not with --once or "
                         "--dry-run (a dry-run replica would take shards from live ones)")
    if args.identity and not (args.writer_leases or args.shards):
        raise UsageError("--identity needs --writer-leases or --shards")
    given = [f"--{name.replace('_', '-')}" for name in LEASE_DEFAULTS
             if getattr(args, name) is not None]
    if given and not (args.writer_leases or args.shards):
        raise UsageError(f"{given[0]} needs --writer-leases or --shards")
    for name, default in LEASE_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.renew_deadline + 2 * args.max_clock_skew >= args.lease_duration:
        raise UsageError(
            f"--renew-deadline + 2 x --max-clock-skew must be below --lease-duration "
            f"({args.renew_deadline:g} + 2 x {args.max_clock_skew:g} >= "
            f"{args.lease_duration:g}): a takeover could overlap the holder's last writes")
    if args.lease_retry >= args.renew_deadline:
        raise UsageError(f"--lease-retry ({args.lease_retry:g}) must be below "
                         f"--renew-deadline ({args.renew_deadline:g}): a holder renews every "
                         "retry and stops writing at the deadline")
    if args.shards and args.request_timeout > args.lease_duration - args.lease_retry:
        raise UsageError(
            f"--request-timeout ({args.request_timeout:g}) must be at most --lease-duration - "
            f"--lease-retry ({args.lease_duration:g} - {args.lease_retry:g}) with --shards: a "
            "write is sent only if it would end, at its full timeout, before the shard's Lease "
            "could be taken over, so a longer timeout would never let one through")
    if args.clock_file is not None and (args.now is not None or args.once):
        raise UsageError("--clock-file drives a long-running daemon: not with --now/--once")


def _exit_now(code: int) -> int:
    """End a long-running process once it has shut down in order (loop stopped, caches
    stopped, "stopped" logged): watch threads may still sit in a socket read, and letting
    the interpreter finalize around them can abort (SIGABRT). Streams are flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _daemon_options(args: argparse.Namespace, with_loop: bool) -> DaemonOptions:
    from autoscaler.daemon.app import DaemonOptions  # noqa: PLC0415
    common = {"kubeconfig": args.kubeconfig, "context": args.context,
              "namespaces": tuple(args.namespace), "spec_dir": args.spec_dir,
              "crd": not args.no_crd, "sedna": args.sedna}
    if not with_loop:
        return DaemonOptions(**common)
    return DaemonOptions(
        **common, dry_run=args.dry_run, sync_period_seconds=args.sync_period,
        workers=args.workers, metrics_addr=args.metrics_addr, once=args.once,
        log_format=args.log_format, log_level=args.log_level, every_sync=args.every_sync,
        request_timeout_seconds=args.request_timeout,
        now=args.now, state_namespace=args.state_namespace,
        prometheus_url=args.prometheus_url, prometheus_token_file=args.prometheus_token_file,
        prometheus_ca_file=args.prometheus_ca_file,
        prometheus_verify_tls=not args.prometheus_insecure_skip_tls_verify,
        prometheus_rate_window_seconds=args.prometheus_rate_window,
        writer_leases=args.writer_leases, identity=args.identity,
        watch_targets=args.scale_reads == "watch", shards=args.shards,
        lease_duration_seconds=args.lease_duration,
        renew_deadline_seconds=args.renew_deadline, lease_retry_seconds=args.lease_retry,
        max_clock_skew_seconds=args.max_clock_skew)


if __name__ == "__main__":
    raise SystemExit(main())
