"""LLM metering proxy: `autoscaler llm-proxy`, a sidecar in front of llama-api-server (LlamaEdge)
or any OpenAI-compatible server.

LlamaEdge exposes no load metrics and serves about one inference at a time, so its CPU reads
~100 % whenever it is busy, however long the queue. Requests in flight and waiting are the
honest autoscaling signal; this proxy counts them, with tokens and latencies, and serves them
on its own port (`--metrics-path`, default `/metrics`; that path is not forwarded).

Everything else is forwarded: method, path, query, body (as sent: a compressed body is not
inflated) and end-to-end headers (`Authorization` included; hop-by-hop headers dropped).
Responses are relayed chunk by chunk, so `stream: true` completions (SSE) are not buffered.
The upstream's cookies are never kept: one client session serves every client.

| metric | type | unit | meaning |
|---|---|---|---|
| `llm_proxy_requests_in_flight` | gauge | requests | forwarded upstream, not finished |
| `llm_proxy_requests_waiting` | gauge | requests | held by `--max-concurrency` (FIFO) |
| `llm_proxy_requests_total{code,path}` | counter | requests | finished requests |
| `llm_proxy_time_to_first_token_seconds` | histogram | seconds | arrival to first token [1] |
| `llm_proxy_request_duration_seconds` | histogram | seconds | arrival to end of response |
| `llm_proxy_prompt_tokens_total` | counter | tokens | `usage.prompt_tokens` [2] |
| `llm_proxy_completion_tokens_total` | counter | tokens | `usage.completion_tokens` [2][3] |
| `llm_proxy_completion_tokens_estimated_total` | counter | tokens | estimated part [3] |
| `llm_proxy_usage_rejected_total{reason}` | counter | responses | `usage` ignored [4] |
| `llm_proxy_arrivals_total{path}` | counter | requests | received, before any queueing |
| `llm_proxy_metered_responses_total{path,streamed}` [8] | counter | responses | 2xx, usage |
| `llm_proxy_metered_prompt_tokens_total{path,streamed}` | counter | tokens | of those |
| `llm_proxy_metered_completion_tokens_total{path,streamed}` | counter | tokens | of those |
| `llm_proxy_upstream_prefill_seconds_total{path}` | counter | seconds | sent -> 1st byte [9] |
| `llm_proxy_upstream_decode_seconds_total{path}` | counter | seconds | 1st byte -> end [9] |

[1] Arrival at the proxy (queueing included) to the first response body byte for a stream
(`text/event-stream`), to the whole body otherwise.
[2] From the OpenAI `usage` object of 2xx responses: the JSON body, or the last SSE chunk
that carries one (OpenAI: `stream_options.include_usage`). Parsed as the bytes pass.
[3] A stream without `usage` counts one completion token per choice with a non-empty
delta (one token per chunk, as llama.cpp-based servers stream) and adds the same amount
to `..._estimated_total`.
[4] Counts must be integers (no fraction, no exponent) in [0, 10^9) per response; anything
else (10^400, -1, 7.0, "7", NaN, true, null) is not counted, the response is relayed
untouched, and `reason` is `too_large`, `negative`, `not_an_integer`, `missing` (no
`prompt_tokens`), `not_an_object` (`usage` neither an object nor null) or `meter_error` (a
bug in the meter: it costs the count, never the response). A stream whose usage was rejected
falls back to the estimate [3]. A body that is not JSON (or nested too deep) is not metered.

[8] What the SLO recommender (`sloRecommender`, README) reads: mean prompt and completion
tokens per request, and with [9] the pod's measured prefill and decode rates
(`metered_prompt_tokens{streamed="true"} / upstream_prefill_seconds`). Responses whose usage
was estimated [3] or rejected [4] are not metered.
[9] Metered streams only (a JSON answer's first byte is its last): from the request sent
upstream to the first body byte (prefill), and from there to the end (decode). Measured
after `--max-concurrency`'s queue: with `--max-concurrency` equal to the server's slots (1
for LlamaEdge) the first byte of a stream is its first token, so the prefill seconds are
the server's prefill alone; with more, the server's own queue is included and the measured
rates are lower (the recommender then errs on the side of more pods).

`path` is `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` or `other`; `code` is
the status sent, `499` if the client left before the end, `502` also when the upstream
broke mid-response (the client then sees a truncated response).

`path` also counts what never reached a handler as `other`: `code` 400 for a request
aiohttp could not parse, 408 for a head not complete within `--read-timeout`.

Limits on what a client may send (refusals are OpenAI-style JSON errors; the connection is
closed after them):
| flag | default | when exceeded |
|---|---|---|
| `--max-body-bytes` | 8 MiB | 413 [5] |
| `--read-timeout` | 30 s | head: connection closed [6]; body: 408 [7] |
| (aiohttp's parser) | 8190-byte lines, 128 headers | 400, like any malformed request |
[5] At once on a declared Content-Length (before any `100 Continue`); for a chunked body, as
soon as it passes the limit. Bodies are held in memory until forwarded: the worst case is
about `--max-body-bytes` per concurrent upload. An `Expect` other than 100-continue: 417.
[6] The head must be complete this long after connecting, or after the end of the
connection's previous request: idle keep-alive connections are closed too (not counted).
[7] Counted from the end of the head.

Failures are HTTP answers, never tracebacks: 502 when the upstream is unreachable or
answers something that is not HTTP (or that cannot be relayed), 504 on `--timeout`, 500 for
a bug in the proxy (logged with its stack, never with a value). Once a response has started,
a failure can only cut the connection: the client sees a truncated response.

No header value is ever logged, by the proxy or its libraries: aiohttp's parser errors quote
the offending line, so every record the proxy or its command line prints is scrubbed
(logscrub.py): exception types and stacks only, never messages; malformed requests are
logged at DEBUG. The 400 text sent back is fixed, nothing of the request is echoed.

Histogram buckets: 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120 s. Tokens per second:
`rate(llm_proxy_completion_tokens_total[1m])`. GET/HEAD/OPTIONS are never held by
`--max-concurrency` (probes must not queue behind a generation) but do count in flight.

Public API (imported from the submodules: importing this package stays cheap, see cli.py):
`autoscaler.llmproxy.cli.main(argv) -> int`, `cli.add_arguments(parser)` and
`cli.run_from_args(args) -> int` for `autoscaler llm-proxy`; `proxy.ProxyConfig`,
`proxy.build_app(config, metrics)`, `proxy.serving(config, host, port)` (async context
manager yielding `RunningProxy(url, port, proxy)`); `metrics.ProxyMetrics` (own registry);
`limits.DEFAULT_MAX_BODY_BYTES`, `limits.DEFAULT_READ_TIMEOUT`; `fake_upstream.FakeOpenAI`
for tests and benchmarks.
"""
