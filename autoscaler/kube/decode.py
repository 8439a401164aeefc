"""Decoding large API answers without the cyclic garbage collector in the way.

Why: `json.loads` of a 10,000-pod PodMetricsList allocates ~100,000 dicts and lists that
all survive. Every 700 allocations start a generation-0 collection, whose survivors
promote and start the older generations in turn, each scanning everything allocated so
far. Measured here (380 bytes per pod): 12.0 us per pod with the collector on, 3.3 us with
it paused; 2.0 vs 1.8 us for a 1,000-pod list. That alone made a 10,000-autoscaler pass
cost 0.12 ms more per reconcile than a 1,000-autoscaler one. Neither a JSON document nor
the frozen dataclasses converted from it can hold a reference cycle, so the pause defers no
garbage: reference counting frees all of it as usual.

The pause is process-wide (the collector has one switch); concurrent decodes share it,
and the collector resumes when the last one ends, if it was on when the first began.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_holders = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _holders, _resume  # noqa: PLW0603 - one process-wide switch, like gc's own
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()


def decode(data: bytes | str, convert: Callable[[Any], T]) -> T:
    """`convert(json.loads(data))` with the collector paused."""
    with collector_paused():
        return convert(json.loads(data))
