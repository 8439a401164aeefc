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
        # What the SLO recommender reads (autoscaler.prometheus.slo_inputs): arrivals; the
        # responses with a usage object (tokens known), split by whether they streamed; and
        # for streams the upstream's service split into prefill (request sent -> first body
        # byte: the first token) and decode (first byte -> end).
        self.arrivals = Counter("llm_proxy_arrivals", "Requests received (before any "
                                "queueing), by path", ("path",), registry=r)
        metered = ("path", "streamed")
        self.metered = Counter("llm_proxy_metered_responses", "2xx responses with a usage "
                               "object", metered, registry=r)
        self.metered_prompt = Counter("llm_proxy_metered_prompt_tokens", "Prompt tokens of "
                                      "the metered responses", metered, registry=r)
        self.metered_completion = Counter(
            "llm_proxy_metered_completion_tokens", "Completion tokens of the metered "
            "responses", metered, registry=r)
        self.prefill_seconds = Counter(
            "llm_proxy_upstream_prefill_seconds", "Metered streams: upstream request sent to "
            "first body byte", ("path",), registry=r)
        self.decode_seconds = Counter(
            "llm_proxy_upstream_decode_seconds", "Metered streams: first body byte to end",
            ("path",), registry=r)
        # Pre-create the known series so dashboards and `rate()` see zeros, not absence.
        for path in (*KNOWN_PATHS, OTHER_PATH):
            self.requests.labels(code="200", path=path)
            for counter in (self.arrivals, self.prefill_seconds, self.decode_seconds):
                counter.labels(path=path)
            for streamed in ("true", "false"):
                for counter in (self.metered, self.metered_prompt, self.metered_completion):
                    counter.labels(path=path, streamed=streamed)
        for reason in REJECTED_REASONS:
            self.usage_rejected.labels(reason=reason)

    def record_tokens(self, tokens: TokenCount) -> None:
        if tokens.rejected is not None:
            self.usage_rejected.labels(reason=tokens.rejected).inc()
        self.prompt_tokens.inc(tokens.prompt)
        self.completion_tokens.inc(tokens.completion)
        if tokens.estimated:
            self.completion_estimated.inc(tokens.completion)

    def record_service(self, path: str, tokens: TokenCount, streaming: bool,
                       forwarded: float | None, first_byte: float | None, end: float) -> None:
        """A finished 2xx response. Metered only with a usage object (an estimate has no
        prompt count; a rejected object no count at all); only a stream separates prefill
        from decode (a JSON answer's first byte is its last)."""
        if tokens.rejected is not None or tokens.estimated:
            return
        streamed = "true" if streaming else "false"
        self.metered.labels(path=path, streamed=streamed).inc()
        self.metered_prompt.labels(path=path, streamed=streamed).inc(tokens.prompt)
        self.metered_completion.labels(path=path, streamed=streamed).inc(tokens.completion)
        if streaming and forwarded is not None and first_byte is not None \
                and first_byte >= forwarded:
            self.prefill_seconds.labels(path=path).inc(first_byte - forwarded)
            self.decode_seconds.labels(path=path).inc(max(0.0, end - first_byte))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
