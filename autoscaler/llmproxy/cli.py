"""`autoscaler llm-proxy`: parse the flags, serve until SIGTERM / SIGINT.

Importing this module is cheap (argparse only): `autoscaler --help` and the other commands
must not pay for aiohttp, which is imported when the proxy runs. The defaults of
`--max-body-bytes` and `--read-timeout` are repeated here for that reason (limits.py holds
them; a test keeps the two equal).

Everything printed goes through logscrub.ScrubFilter, whoever logged it: no header value, nor
anything else quoted from a request, reaches stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from autoscaler.llmproxy.proxy import ProxyConfig

log = logging.getLogger("autoscaler.llmproxy")
DESCRIPTION = ("LLM metering proxy: forwards to an OpenAI-compatible server and serves requests "
               "in flight / waiting, tokens, time to first token and latency on /metrics.")
MAX_BODY_BYTES = 8 << 20
READ_TIMEOUT = 30.0


def listen_address(value: str) -> tuple[str, int]:
    """`host:port`, `:port` (all interfaces) or `[v6]:port`."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return (host.strip("[]") or "0.0.0.0", int(port))


def upstream_url(value: str) -> str:
    url = urlsplit(value)
    try:
        url.port  # noqa: B018 - validates the port (ValueError when out of range)
    except ValueError:
        url = urlsplit("")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise argparse.ArgumentTypeError(f"expected an http(s) URL, got {value!r}")
    if url.query or url.fragment:
        raise argparse.ArgumentTypeError(f"the upstream URL takes no query or fragment: "
                                         f"{value!r}")
    return value


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value!r}")
    return int(value)


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value!r}")
    return number


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags, for `autoscaler llm-proxy` (a subparser) and `python -m` alike."""
    p.add_argument("--listen", type=listen_address, default=("0.0.0.0", 8081),
                   metavar="HOST:PORT", help="where clients connect (default 0.0.0.0:8081)")
    p.add_argument("--upstream", type=upstream_url, default="http://127.0.0.1:8080",
                   help="the OpenAI-compatible server (default http://127.0.0.1:8080)")
    p.add_argument("--metrics-path", default="/metrics",
                   help="served by the proxy itself, not forwarded (default /metrics)")
    p.add_argument("--max-concurrency", type=positive_int, metavar="N",
                   help="forward at most N requests at once; the rest wait in the proxy, "
                        "first come first served (default: unlimited). GET/HEAD/OPTIONS "
                        "are never held")
    p.add_argument("--timeout", type=positive_float, default=600.0, metavar="SECONDS",
                   help="one forwarded request, connect to last byte, queueing excluded "
                        "(default 600); 504 when exceeded")
    p.add_argument("--max-body-bytes", type=positive_int, default=MAX_BODY_BYTES,
                   metavar="BYTES",
                   help="largest request body, as sent (compressed bodies are not inflated); "
                        "a larger one gets 413 and the connection is closed (default 8388608, "
                        "8 MiB; bodies are held in memory until forwarded)")
    p.add_argument("--read-timeout", type=positive_float, default=READ_TIMEOUT,
                   metavar="SECONDS",
                   help="a client has this long to send a request's head (from connecting, or "
                        "from the end of its previous request: idle keep-alive connections "
                        "close too), then this long again for its body; a late head closes "
                        "the connection, a late body gets 408 (default 30)")
    p.add_argument("--log-level", default="info", type=str.lower,
                   choices=["debug", "info", "warning", "error"],
                   help="least severe level logged (default info; any case): debug logs one "
                        "line per request (method, path class, status, duration; never "
                        "headers) and the requests aiohttp could not parse (exception type "
                        "only)")
    p.add_argument("--log-format", choices=["auto", "json", "console"], default="auto",
                   help="log lines on stderr, as the daemon's: JSON, or console colours; "
                        "auto: console on a terminal, else JSON (default auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler llm-proxy", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def config_from(args: argparse.Namespace) -> ProxyConfig:
    from autoscaler.llmproxy.proxy import ProxyConfig  # noqa: PLC0415 - see the module doc

    return ProxyConfig(upstream=args.upstream, metrics_path=args.metrics_path,
                       max_concurrency=args.max_concurrency, timeout_seconds=args.timeout,
                       read_timeout_seconds=args.read_timeout,
                       max_body_bytes=args.max_body_bytes)


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until SIGTERM / SIGINT (then finish the requests in flight); 1 if the address
    cannot be bound."""
    import asyncio  # noqa: PLC0415 - see the module doc

    try:  # aiohttp is the `proxy` extra
        from autoscaler.llmproxy.logscrub import ScrubFilter  # noqa: PLC0415
        from autoscaler.llmproxy.proxy import serve_until_signalled  # noqa: PLC0415
    except ImportError as exc:
        print(f"error: llm-proxy needs aiohttp ({exc.name or exc} is not installed): "
              "pip install 'edge-autoscaler[proxy]'", file=sys.stderr)
        return 2

    from autoscaler.runtime.logs import scoped_logging  # noqa: PLC0415

    # The daemon's structlog setup; the proxy's, aiohttp's and asyncio's standard-library
    # records are rendered by the same processors, every one scrubbed first.
    host, port = args.listen
    with scoped_logging(args.log_format, sys.stderr, args.log_level):
        for handler in logging.getLogger().handlers:  # every record printed, whoever logs it
            handler.addFilter(ScrubFilter())
        try:
            asyncio.run(serve_until_signalled(config_from(args), host, port))
        except OSError as exc:  # e.g. the port is taken
            log.error("llm-proxy cannot listen on %s:%d: %s", host, port, exc)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))
