"""The `autoscaler` command line."""

from __future__ import annotations

import argparse
import sys

from autoscaler import conformance, demo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    conf = sub.add_parser("conformance", help="run upstream-derived HPA conformance case files")
    conf.add_argument("files", nargs="+", help="case files (JSON, see FORMAT.md)")
    sub.add_parser("demo", help="the seed's LlamaEdge HPA on a scripted load, in-process")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:  # `autoscaler demo | head` is fine
        sys.stderr.close()
        return 0


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "conformance":
        return conformance.main(args.files, sys.stdout)
    if args.command == "demo":
        return demo.run(sys.stdout)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
