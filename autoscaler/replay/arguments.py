"""`autoscaler replay` flags: parsing, range checks, and which flags go together.

Every mistake on the command line is one line on stderr and exit status 2: argparse's own
errors (a bad number, an unknown flag) and the mode rules of `autoscaler.replay.modes`
(a flag that the chosen mode would silently ignore). The heavy replay modules are imported
only when a replay runs: `autoscaler run` must not pay for numpy at start-up.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from algorithms.slo.model import ROUTINGS
from autoscaler.replay import flag_types as flag
from autoscaler.replay.input_errors import UsageError
from autoscaler.replay.limits import DEFAULT_LIMITS, MAX_REPLICAS, TraceLimits
from autoscaler.replay.settings import SCENARIO_NAMES, ModelOverrides

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from autoscaler.replay.command import ReplayOptions
    from autoscaler.replay.from_prometheus import RangeRequest

DEFAULT_STEP_SECONDS = 15.0
MAX_METRIC_WINDOW = 1000.0  # the fluid engine keeps 1,024 s of per-second usage


class ReplayArgumentParser(argparse.ArgumentParser):
    """One line per mistake: argparse would print the whole usage (a dozen lines for replay)
    before it, and leave an unknown flag to the top-level parser's usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message.removeprefix('argument ')} "
                     f"(see {self.prog} --help)\n")

    def parse_known_args(self, args: Iterable[str] | None = None, namespace: Any = None
                         ) -> tuple[Any, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        try:
            _check_modes(parsed)
        except UsageError as exc:
            self.error(str(exc))
        return parsed, extras


def _partition(text: str) -> tuple[float, float]:
    """`--partition START:END`: seconds from the start of the workload, 0 <= START < END."""
    return flag.partition(text)


def _replay_parser(p: argparse.ArgumentParser) -> None:
    # `build_parser` makes every subparser an ArgumentParser; this one answers in one line.
    p.__class__ = ReplayArgumentParser
    p.add_argument("--scenario", choices=SCENARIO_NAMES,
                   help="an embedded scenario (default llamaedge when no --trace is given)")
    p.add_argument("--trace", type=flag.path, help="workload file (see --format)")
    p.add_argument("--format", dest="fmt",
                   choices=["csv", "azure-llm", "per-minute", "prometheus", "rps",
                            "kubectl-watch"], help="trace format (sniffed when omitted)")
    p.add_argument("--policy", action="append", default=[],
                   help="HPA YAML file (autoscaling/v2; several documents allowed), fixed:N "
                        f"(N <= {MAX_REPLICAS}), oracle (with HPA policies also oracle<=M, "
                        "M their largest maxReplicas) or oracle<=N; repeatable")
    p.add_argument("--unit", choices=["cores", "requests_per_second"],
                   help="unit of a csv / prometheus demand series")
    p.add_argument("--column", help="per-minute trace: the function hash to replay "
                                    "(default: the sum of all rows)")
    p.add_argument("--time-scale", type=flag.number(0, 1e6, above=True),
                   help="stretch time: 2 makes the trace last twice as long")
    p.add_argument("--rate-scale", type=flag.number(0, 1e6),
                   help="multiply the load: 0.5 halves it")
    _limit_flags(p)
    _output_flags(p)
    _prometheus_flags(p.add_argument_group("replay a range pulled from Prometheus"))
    _model_flags(p.add_argument_group("simulator model (defaults: README, 'The simulator')"))


def _limit_flags(p: argparse.ArgumentParser) -> None:
    limits = DEFAULT_LIMITS
    p.add_argument("--max-span", type=flag.duration, metavar="DURATION",
                   help="longest trace to replay, e.g. 400d, 36h or seconds (default "
                        f"{limits.max_span_seconds / 86400:g}d)")
    p.add_argument("--max-rows", type=flag.whole(1, 10**9),
                   help=f"most CSV rows / requests (default {limits.max_rows:,}; "
                        f"kubectl-watch lines {limits.max_watch_rows:,})")
    p.add_argument("--max-json-bytes", type=flag.size, metavar="SIZE",
                   help=f"largest Prometheus JSON export, e.g. 256M (default "
                        f"{limits.max_json_bytes >> 20}M)")


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", type=flag.path,
                   help="where decisions.log, summary.json and replay.png go "
                        "(default replay-out)")
    p.add_argument("--timeline", type=flag.path,
                   help="write every step of every policy here")
    p.add_argument("--timeline-format", choices=["csv", "jsonl"], help="default csv")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: only on a terminal)")
    p.add_argument("--every-sync", action="store_true",
                   help="log every controller sync, not only changes")
    p.add_argument("--seed", type=flag.whole(0, 2**63 - 1),
                   help="random seed (request routing; default 0)")


def _prometheus_flags(prom: argparse._ArgumentGroup) -> None:
    prom.add_argument("--prometheus", metavar="URL", type=flag.url,
                      help="Prometheus base URL")
    prom.add_argument("--query", help="PromQL giving the demand series (default: total CPU "
                                      "cores of --namespace-of-pods / --pod-regex)")
    prom.add_argument("--namespace-of-pods", dest="prom_namespace", help="default 'default'")
    prom.add_argument("--pod-regex", help="pods whose CPU is the demand (default .*)")
    prom.add_argument("--start", type=flag.instant, help="Unix seconds or RFC 3339")
    prom.add_argument("--end", type=flag.instant, help="Unix seconds or RFC 3339")
    prom.add_argument("--step", type=flag.number(0, 86400, above=True),
                      help=f"seconds between points (default {DEFAULT_STEP_SECONDS:g})")
    prom.add_argument("--prometheus-token-file", type=flag.readable_file, metavar="FILE",
                      help="bearer token for --prometheus, read from this file (never from "
                           "the command line, where ps would show it)")
    prom.add_argument("--prometheus-ca-file", type=flag.readable_file, metavar="FILE",
                      help="CA bundle that verifies --prometheus's TLS certificate (TLS is "
                           "always verified; default: the system's CAs)")


def _model_flags(model: argparse._ArgumentGroup) -> None:
    model.add_argument("--metrics", choices=["metrics-server", "prometheus"],
                       help="metrics pipeline the controller reads")
    model.add_argument("--metric-window", type=flag.number(1, MAX_METRIC_WINDOW),
                       help="metric window in seconds")
    model.add_argument("--startup-seconds", type=flag.number(0, 86400),
                       help="model load time of a new pod")
    model.add_argument("--sync-period", type=flag.number(1, 3600),
                       help="controller sync period in seconds")
    model.add_argument("--capacity", choices=["x86-avx512", "pi5"],
                       help="LLM pod capacity preset (Qwen2-0.5B on llama.cpp)")
    model.add_argument("--prefill-tps", type=flag.number(1e-3, 1e9),
                       help="prompt tokens/s per pod")
    model.add_argument("--decode-tps", type=flag.number(1e-3, 1e9),
                       help="output tokens/s per pod")
    model.add_argument("--concurrency", type=flag.whole(1, 1024),
                       help="inferences at a time per pod")
    model.add_argument("--ttft-slo", type=flag.number(0, 86400, above=True),
                       help="time-to-first-token SLO in seconds")
    model.add_argument("--slo-attainment", type=flag.number(0, 1, above=True),
                       help="share of requests that should meet --ttft-slo (default 0.95; "
                            "the request oracle sizes its headroom for it)")
    model.add_argument("--routing", choices=ROUTINGS,
                       help="how the Service spreads LLM requests: random (kube-proxy "
                            "iptables, default), round-robin (IPVS rr) or least-in-flight "
                            "(an inference gateway)")
    model.add_argument("--cpu-seconds-per-request", type=flag.number(0, 3600, above=True),
                       help="CPU cost of one request of a request-rate series")
    model.add_argument("--partition", metavar="START:END", type=_partition,
                       help="seconds during which no metrics reach the cloud controller; "
                            "each HPA then runs cloud-only and with the edge fallback")


# (flag, dest) pairs by the mode they belong to.
_TRACE_ONLY = (("--format", "fmt"), ("--column", "column"))
_WITH_A_SOURCE = (("--policy", "policy"), ("--unit", "unit"), ("--time-scale", "time_scale"),
                  ("--rate-scale", "rate_scale"), ("--max-span", "max_span"),
                  ("--max-rows", "max_rows"), ("--max-json-bytes", "max_json_bytes"))
_PROMETHEUS_ONLY = (("--query", "query"), ("--namespace-of-pods", "prom_namespace"),
                    ("--pod-regex", "pod_regex"), ("--start", "start"), ("--end", "end"),
                    ("--step", "step"), ("--prometheus-token-file", "prometheus_token_file"),
                    ("--prometheus-ca-file", "prometheus_ca_file"))
_DEFAULT_QUERY_ONLY = (("--namespace-of-pods", "prom_namespace"), ("--pod-regex", "pod_regex"))


def _given(args: argparse.Namespace, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The flags among `pairs` on the command line: not None, not an empty append list, not
    an unset store_true (by identity: `--start 0` is given, and 0.0 == False)."""
    return [flag for flag, dest in pairs
            if (value := getattr(args, dest)) is not None and value is not False
            and value != []]


def _check_modes(args: argparse.Namespace) -> None:
    """Flags that the chosen mode would ignore are refused (autoscaler.replay.modes)."""
    from autoscaler.replay.modes import refuse  # noqa: PLC0415 - numpy, see the docstring
    sources = _given(args, (("--scenario", "scenario"), ("--trace", "trace"),
                            ("--prometheus", "prometheus")))
    if len(sources) > 1:
        raise UsageError(f"{' and '.join(sources)} are alternatives: give one")
    if not args.prometheus:
        refuse(_given(args, _PROMETHEUS_ONLY), "without --prometheus URL (range query "
                                               "options): add --prometheus URL or drop them")
    else:
        refuse(_given(args, _TRACE_ONLY), "to --prometheus (its answer is read as "
                                          "--format prometheus): drop them")
        if args.start is None or args.end is None:
            raise UsageError("--prometheus needs --start and --end (Unix seconds or RFC 3339)")
        if args.end <= args.start:
            raise UsageError(f"--end ({args.end:g}) must be after --start ({args.start:g})")
        if args.query:
            refuse(_given(args, _DEFAULT_QUERY_ONLY), "with --query (they only shape the "
                                                      "default CPU query): drop them")
    if not (args.trace or args.prometheus):
        refuse(_given(args, _TRACE_ONLY + _WITH_A_SOURCE),
               "to a scenario (it brings its own workload and policies): give --trace FILE "
               "or --prometheus URL to replay your own")


def _replay_options(args: argparse.Namespace) -> ReplayOptions:
    from autoscaler.replay.command import ReplayOptions  # noqa: PLC0415 - see the docstring
    # Only what was given: each trace format accepts its own options, and names the
    # ones that do not apply to it.
    trace_options: dict[str, object] = {}
    if args.time_scale is not None:
        trace_options["time_scale"] = args.time_scale
    if args.rate_scale is not None:
        trace_options["rate_scale"] = args.rate_scale
    if args.unit:
        trace_options["unit"] = args.unit
    if args.column:
        trace_options["column"] = args.column
    return ReplayOptions(
        scenario=args.scenario, trace=args.trace, fmt=args.fmt, policies=tuple(args.policy),
        trace_options=trace_options, out_dir=args.out_dir, timeline=args.timeline,
        timeline_format=args.timeline_format, plot=False if args.no_plot else None,
        progress=args.progress, seed=args.seed, every_sync=args.every_sync,
        model=_model_overrides(args), prometheus=_range_request(args),
        limits=_limits(args))


def _limits(args: argparse.Namespace) -> TraceLimits:
    limits = DEFAULT_LIMITS
    if args.max_span is not None:
        limits = limits.with_span(args.max_span)
    if args.max_rows is not None:
        limits = limits.with_rows(args.max_rows)
    if args.max_json_bytes is not None:
        limits = replace(limits, max_json_bytes=args.max_json_bytes)
    return limits


def _range_request(args: argparse.Namespace) -> RangeRequest | None:
    if not args.prometheus:
        return None
    from autoscaler.replay.from_prometheus import (  # noqa: PLC0415 - see the docstring
        RangeRequest,
        cpu_demand_query,
    )
    query = args.query or cpu_demand_query(args.prom_namespace or "default",
                                           args.pod_regex or ".*")
    return RangeRequest(url=args.prometheus, query=query, start=args.start, end=args.end,
                        step_seconds=args.step or DEFAULT_STEP_SECONDS,
                        bearer_token_file=args.prometheus_token_file,
                        ca_file=args.prometheus_ca_file)


def _model_overrides(args: argparse.Namespace) -> ModelOverrides:
    return ModelOverrides(
        metrics=args.metrics, metric_window_seconds=args.metric_window,
        startup_seconds=args.startup_seconds, sync_period_seconds=args.sync_period,
        capacity_preset=args.capacity, prefill_tokens_per_second=args.prefill_tps,
        decode_tokens_per_second=args.decode_tps, concurrency=args.concurrency,
        ttft_slo_seconds=args.ttft_slo, slo_attainment=args.slo_attainment,
        routing=args.routing, cpu_seconds_per_request=args.cpu_seconds_per_request,
        partition=args.partition)
