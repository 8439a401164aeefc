"""LLM metering proxy: `autoscaler llm-proxy`, a sidecar in front of llama-api-server (LlamaEdge)
or any OpenAI-compatible server.

LlamaEdge exposes no load metrics and serves about one inference at a time, so its CPU reads
~100 % whenever it is busy, however long the queue. Requests in flight and waiting are the
honest autoscaling signal; this proxy counts them, with tokens and latencies, and serves them
on its own port (`--metrics-path`, default `/metrics`; that path is not forwarded).

Everything else is forwarded: method, path, query, body and end-to-end headers
(`Authorization` included; hop-by-hop headers dropped; no header value is ever logged).
Responses are relayed chunk by chunk, so `stream: true` completions (SSE) are not buffered.
An unreachable upstream gives 502 (504 on `--timeout`) with an OpenAI-style JSON error.

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

[1] Arrival at the proxy (queueing included) to the first response body byte for a stream
(`text/event-stream`), to the whole body otherwise.
[2] From the OpenAI `usage` object of 2xx responses: the JSON body, or the last SSE chunk
that carries one (OpenAI: `stream_options.include_usage`). Parsed as the bytes pass.
[3] A stream without `usage` counts one completion token per choice with a non-empty
delta (one token per chunk, as llama.cpp-based servers stream) and adds the same amount
to `..._estimated_total`.

`path` is `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings` or `other`; `code` is
the status sent, `499` if the client left before the end, `502` also when the upstream
broke mid-response (the client then sees a truncated response).

Histogram buckets: 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120 s. Tokens per second:
`rate(llm_proxy_completion_tokens_total[1m])`. GET/HEAD/OPTIONS are never held by
`--max-concurrency` (probes must not queue behind a generation) but do count in flight.

Public API (imported from the submodules: importing this package stays cheap, see cli.py):
`autoscaler.llmproxy.cli.main(argv) -> int`, `cli.add_arguments(parser)` and
`cli.run_from_args(args) -> int` for `autoscaler llm-proxy`; `proxy.ProxyConfig`,
`proxy.build_app(config, metrics)`, `proxy.serving(config, host, port)` (async context
manager yielding `RunningProxy(url, port, proxy)`); `metrics.ProxyMetrics` (own registry);
`fake_upstream.FakeOpenAI` for tests and benchmarks.
"""
