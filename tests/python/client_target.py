"""A scrape target built with the official Python client (prometheus-client).

Used by tests/scrape_python_client.rs. It serves one registry on 127.0.0.1 at a free
port, prints `port <N>` once it listens, then reads commands from stdin:

    step  -> applies the second round of updates, prints `stepped`
    quit  -> exits (so does end of input)

Every value is fixed, so the test knows what the scraper must store. Exemplars carry
trace_id/span_id, which the client only writes in the OpenMetrics format; the scraper
must ask for it through its Accept header for them to appear.
"""

import sys

try:
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Enum,
        Gauge,
        Histogram,
        Info,
        Summary,
        start_http_server,
    )
    from prometheus_client.metrics_core import Metric
except ImportError as e:  # the Rust test turns this exit code into a clear failure
    print(f"prometheus_client missing: {e}", file=sys.stderr, flush=True)
    sys.exit(3)

TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_A = "00f067aa0ba902b7"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"
SPAN_B = "b7ad6b7169203331"
TRACE_C = "5b8aa5a2d2c872e8321cf37308d69df2"
SPAN_C = "051581bf3cb55c13"


class QuantileSummary:
    """A summary with quantiles. prometheus-client's own Summary exposes only `_count`
    and `_sum`; exporters that bridge other libraries (or Go-style summaries) expose
    quantile samples, so the target offers one written by a custom collector."""

    def __init__(self):
        self.quantiles = {"0.5": 0.25, "0.9": 0.75, "0.99": 1.5}
        self.count = 40
        self.total = 13.5

    def collect(self):
        m = Metric("demo_rpc_seconds", "RPC latency with quantiles.", "summary")
        for q, v in self.quantiles.items():
            m.add_sample("demo_rpc_seconds", {"service": "api", "quantile": q}, v)
        m.add_sample("demo_rpc_seconds_count", {"service": "api"}, self.count)
        m.add_sample("demo_rpc_seconds_sum", {"service": "api"}, self.total)
        yield m


def main():
    registry = CollectorRegistry()
    requests = Counter(
        "demo_requests", "Requests handled.", ["method", "path"], registry=registry
    )
    temperature = Gauge(
        "demo_temperature_celsius", "Room temperature.", ["room"], registry=registry
    )
    latency = Histogram(
        "demo_latency_seconds",
        "Request latency.",
        ["route"],
        buckets=(0.1, 0.5, 1.0),
        registry=registry,
    )
    payload = Summary(
        "demo_payload_bytes", "Payload sizes.", ["route"], registry=registry
    )
    build = Info("demo_build", "Build information.", registry=registry)
    state = Enum(
        "demo_state",
        "Lifecycle state.",
        ["component"],
        states=["starting", "running", "stopped"],
        registry=registry,
    )
    quantiles = QuantileSummary()
    registry.register(quantiles)

    # Round one.
    requests.labels("GET", "/api").inc(3, exemplar={"trace_id": TRACE_A, "span_id": SPAN_A})
    requests.labels("POST", "/api").inc(2)
    temperature.labels("lab").set(21.5)
    temperature.labels("server \"room\"").set(-3.25)
    latency.labels("/api").observe(0.05)
    latency.labels("/api").observe(0.3, exemplar={"trace_id": TRACE_B, "span_id": SPAN_B})
    latency.labels("/api").observe(2.0)
    payload.labels("/api").observe(512)
    payload.labels("/api").observe(1024)
    build.info({"version": "1.4.2", "commit": "deadbeef"})
    state.labels("worker").state("starting")

    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    print(f"port {server.server_port}", flush=True)

    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "step":
            # Round two: known increments on top of round one.
            requests.labels("GET", "/api").inc(
                4, exemplar={"trace_id": TRACE_C, "span_id": SPAN_C}
            )
            temperature.labels("lab").set(22.75)
            latency.labels("/api").observe(0.7)
            payload.labels("/api").observe(256)
            state.labels("worker").state("running")
            quantiles.count = 50
            quantiles.total = 16.0
            print("stepped", flush=True)
        elif cmd == "quit":
            break
    server.shutdown()


if __name__ == "__main__":
    main()
