"""What the replay accepts: every trace reader, policy and flag stops at these bounds.

An input past a limit is refused with a `file:line: field: what is wrong` error instead of
being read into an arbitrarily large (or never-ending) simulation. The defaults cover every
real trace we know of by a wide margin; the ones a user may outgrow have a flag.

| limit | default | flag | why |
|---|---|---|---|
| `max_span_seconds` | 400 days | `--max-span` | 1-s steps: 276 MB per float64 column |
| `max_steps` | 400 days of 1 s | `--max-span` | points of a demand series |
| `max_rows` | 20,000,000 | `--max-rows` | CSV rows (requests, functions) |
| `max_watch_rows` | 100,000 | `--max-rows` | `kubectl get hpa -w` lines (one pass each) |
| `max_line_chars` | 16 MiB | - | a text line (a 400-day per-minute header ~9 MB) |
| (csv field) | 131,072 | - | Python's csv module limit |
| `max_columns` | 576,000 | `--max-span` | per-minute columns: 400 days of minutes |
| `max_json_bytes` | 64 MiB | `--max-json-bytes` | a Prometheus export is parsed whole |
| `max_number_chars` | 64 | - | one rps count: longer is binary data |
| `max_value` | 1e9 | - | demand after rate_scale: more is a unit mistake |
| `max_tokens` | 10,000,000 | - | prompt or output tokens of one request |
| `MAX_REPLICAS` | 10,000 | - | `fixed:N`, a spec's maxReplicas, watch rows |

Values must also be finite and non-negative. With these bounds every summary stays exact:
the oracle's replica-seconds are summed as Python integers, and no float can overflow
(1e9 x 3600 CPU-s per request / 0.05 cores x 400 days is far below 1e308).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

DAY_SECONDS = 86400
MAX_REPLICAS = 10_000


@dataclass(frozen=True)
class TraceLimits:
    max_span_seconds: float = 400 * DAY_SECONDS
    max_steps: int = 400 * DAY_SECONDS
    max_rows: int = 20_000_000
    max_watch_rows: int = 100_000
    max_line_chars: int = 16 * 1024 * 1024
    max_columns: int = 400 * 24 * 60
    max_json_bytes: int = 64 * 1024 * 1024
    max_number_chars: int = 64
    max_value: float = 1e9
    max_tokens: int = 10_000_000

    def with_span(self, seconds: float) -> TraceLimits:
        """A longer (or shorter) span; the step and column budgets follow at 1-s / 60-s."""
        return replace(self, max_span_seconds=seconds,
                       max_steps=max(1, int(seconds)),
                       max_columns=max(1, int(seconds // 60)))

    def with_rows(self, rows: int) -> TraceLimits:
        return replace(self, max_rows=rows, max_watch_rows=rows)


DEFAULT_LIMITS = TraceLimits()


def describe_seconds(seconds: float) -> str:
    """`34560000 s (400 days)`: the raw number for scripts, the days for people."""
    if seconds >= DAY_SECONDS:
        days = f"{seconds / DAY_SECONDS:,.1f}".removesuffix(".0")
        return f"{seconds:.0f} s ({days} days)"
    return f"{seconds:g} s"
