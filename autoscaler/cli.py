"""The `autoscaler` command line."""

from __future__ import annotations

import argparse
import sys

from autoscaler import conformance


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoscaler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    conf = sub.add_parser("conformance", help="run upstream-derived HPA conformance case files")
    conf.add_argument("files", nargs="+", help="case files (JSON, see FORMAT.md)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "conformance":
        return conformance.main(args.files, sys.stdout)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
