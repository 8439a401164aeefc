"""The proxy's Prometheus metrics, in their own registry (the table is in the package doc)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from autoscaler.llmproxy.usage import REJECTED_REASONS, TokenCount

# From a cached embedding (tens of ms) to a long generation on an edge CPU (minutes).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

# The `path` label is bounded: any other path (including probes and typos, which clients
# choose freely) is "other", so a scanner cannot blow up the number of series.
KNOWN_PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
OTHER_PATH = "other"

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def path_label(path: str) -> str:
    return path if path in KNOWN_PATHS else OTHER_PATH


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.in_flight = Gauge("llm_proxy_requests_in_flight",
                               "Requests forwarded to the upstream and not finished", registry=r)
        self.waiting = Gauge("llm_proxy_requests_waiting",
                             "Requests held in the proxy by --max-concurrency", registry=r)
        self.requests = Counter("llm_proxy_requests", "Finished requests by status and path",
                                ("code", "path"), registry=r)
        self.ttft = Histogram(
            "llm_proxy_time_to_first_token_seconds",
            "Arrival at the proxy to the first body byte (streaming) or the whole body",
            buckets=LATENCY_BUCKETS, registry=r)
        self.duration = Histogram("llm_proxy_request_duration_seconds",
                                  "Arrival at the proxy to the end of the response",
                                  buckets=LATENCY_BUCKETS, registry=r)
        self.prompt_tokens = Counter("llm_proxy_prompt_tokens",
                                     "Prompt tokens from the OpenAI usage object", registry=r)
        self.completion_tokens = Counter(
            "llm_proxy_completion_tokens",
            "Completion tokens (usage object, or estimated from streamed chunks)", registry=r)
        self.completion_estimated = Counter(
            "llm_proxy_completion_tokens_estimated",
            "Completion tokens counted from streamed chunks (no usage object sent)", registry=r)
        self.usage_rejected = Counter(
            "llm_proxy_usage_rejected",
            "Responses whose usage object was ignored (not integers in [0, 1e9))",
            ("reason",), registry=r)
        # Pre-create the known series so dashboards and `rate()` see zeros, not absence.
        for path in (*KNOWN_PATHS, OTHER_PATH):
            self.requests.labels(code="200", path=path)
        for reason in REJECTED_REASONS:
            self.usage_rejected.labels(reason=reason)

    def record_tokens(self, tokens: TokenCount) -> None:
        if tokens.rejected is not None:
            self.usage_rejected.labels(reason=tokens.rejected).inc()
        self.prompt_tokens.inc(tokens.prompt)
        self.completion_tokens.inc(tokens.completion)
        if tokens.estimated:
            self.completion_estimated.inc(tokens.completion)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
