"""`autoscaler demo`: the seed's HPA on the scripted load, checked against hand reasoning."""

from __future__ import annotations

import io
import re

from autoscaler.demo import run


def _transitions(text: str) -> list[tuple[int, int, str]]:
    out = []
    for line in text.splitlines():
        match = re.search(r"\s(\d+) ->\s+(\d+)\s+(\S+)\s", line)
        if match and match[1] != match[2]:
            out.append((int(match[1]), int(match[2]), match[3]))
    return out


def test_demo_scales_up_by_doubling_and_down_after_the_window() -> None:
    out = io.StringIO()
    assert run(out) == 0
    # Saturated LlamaEdge pods read 100 % = 2x the 50 % target, so each step can only double
    # (ratio 2.0), and the next step waits until new pods' samples are trusted. Demand falls
    # at 8m0s; the 300 s downscale window holds 8 replicas until 13m15s.
    assert _transitions(out.getvalue()) == [(1, 2, "2m15s"), (2, 4, "3m30s"),
                                            (4, 8, "4m45s"), (8, 1, "13m15s")]


def test_demo_is_deterministic() -> None:
    first, second = io.StringIO(), io.StringIO()
    run(first)
    run(second)
    assert first.getvalue() == second.getvalue()
