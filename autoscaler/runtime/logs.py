"""One logging setup for every long-running command (`run`, `edge`, `llm-proxy`).

structlog renders JSON lines (console colours when the stream is a terminal, or as
`--log-format` says) with the level and an ISO timestamp; `--log-level` is the threshold.
`scoped_logging` also sends standard-library records (libraries', the proxy's own loggers) through
the same processors, so a process prints one format whoever logs.

This module is cheap to import (no client, no loop): the proxy uses it too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("auto", "json", "console")


def level_number(level: str) -> int:
    """`debug` -> logging.DEBUG (case-insensitive); ValueError for anything else."""
    name = level.lower()
    if name not in LEVELS:
        raise ValueError(f"log level {level!r}: expected one of {', '.join(LEVELS)}")
    return int(logging.getLevelNamesMapping()[name.upper()])


def _renderer(fmt: str, stream: TextIO) -> Any:
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    return structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()


def configure_logging(fmt: str, stream: TextIO, level: str = "info") -> None:
    """structlog for this process: `fmt` auto | json | console, `level` debug | info |
    warning | error (events below it are dropped before any processor runs)."""
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, _renderer(fmt, stream)],
        wrapper_class=structlog.make_filtering_bound_logger(level_number(level)),
        logger_factory=structlog.PrintLoggerFactory(stream), cache_logger_on_first_use=False)


@contextmanager
def scoped_logging(fmt: str, stream: TextIO, level: str = "info",
                   filters: Sequence[logging.Filter] = ()) -> Iterator[logging.Handler]:
    """`configure_logging`, and standard-library records (libraries', a module's own
    `logging` loggers) at `level` and above rendered by the same processors (`event` is
    the message, plus `level`, `timestamp` and `logger`), through `filters` first. On exit
    structlog's configuration, the root logger's level and its handlers are as they were
    (an in-process caller, a test, is left as it found things)."""
    saved = structlog.get_config()
    configure_logging(fmt, stream, level)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _renderer(fmt, stream)]))
    for log_filter in filters:
        handler.addFilter(log_filter)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level_number(level))
    try:
        yield handler
    finally:
        handler.flush()
        root.removeHandler(handler)
        root.setLevel(previous)
        structlog.configure(**saved)
