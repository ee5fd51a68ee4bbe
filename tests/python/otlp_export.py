#!/usr/bin/env python3
"""Exports one set of metrics per target with the OpenTelemetry Python SDK, for
tests/otlp_python.rs.

Usage: otlp_export.py KIND=ENDPOINT INSTANCE [KIND=ENDPOINT INSTANCE ...]
  KIND is http (ENDPOINT a full URL ending in /v1/metrics, sent gzip-compressed),
  http-plain (the same, uncompressed) or grpc (ENDPOINT host:port, gzip-compressed).

Each target gets its own MeterProvider whose resource carries the given
service.instance.id, so the test can tell the exports apart. What is recorded:

  app.requests       counter, unit "{request}", route=/a: 5 then 2        -> 7
  app.queue.depth    up-down counter, queue=q1: +3 then -1                -> 2
  app.temperature    observable gauge, room=lab                          -> 21.5
  app.latency        histogram, unit s, buckets [0.1, 0.5, 1]:
                     0.25, 0.5, 0.5, 2                                    -> sum 3.25
  app.payload.size   exponential histogram, unit By: 1, 2, 4              -> sum 7

Exits 0 when every export succeeded, 1 when one failed, 3 when the OpenTelemetry
packages are missing.
"""

import sys

REQUIRED = (
    "opentelemetry-sdk opentelemetry-exporter-otlp-proto-http "
    "opentelemetry-exporter-otlp-proto-grpc"
)

try:
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpExporter,
    )
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        InMemoryMetricReader,
        MetricExportResult,
    )
    from opentelemetry.sdk.metrics.view import (
        ExplicitBucketHistogramAggregation,
        ExponentialBucketHistogramAggregation,
        View,
    )
    from opentelemetry.sdk.resources import Resource
except ImportError as e:
    print(
        f"missing Python package ({e}); run: pip install {REQUIRED}",
        file=sys.stderr,
    )
    sys.exit(3)


def exporter(kind, endpoint):
    if kind == "http":
        return HttpExporter(
            endpoint=endpoint, compression=HttpCompression.Gzip, timeout=10
        )
    if kind == "http-plain":
        return HttpExporter(
            endpoint=endpoint, compression=HttpCompression.NoCompression, timeout=10
        )
    if kind == "grpc":
        return GrpcExporter(
            endpoint=endpoint,
            insecure=True,
            compression=grpc.Compression.Gzip,
            timeout=10,
        )
    raise SystemExit(f"unknown exporter kind {kind!r}")


def record(instance):
    """Records the metrics and returns the collected data, cumulative throughout."""
    # The resource as given, without the SDK's default telemetry.sdk.* attributes, so
    # the test knows target_info's labels exactly.
    resource = Resource(
        {
            "service.name": "checkout",
            "service.namespace": "shop",
            "service.instance.id": instance,
            "deployment.environment": "e2e",
        }
    )
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=resource,
        metric_readers=[reader],
        views=[
            View(
                instrument_name="app.latency",
                aggregation=ExplicitBucketHistogramAggregation(
                    boundaries=(0.1, 0.5, 1.0)
                ),
            ),
            View(
                instrument_name="app.payload.size",
                aggregation=ExponentialBucketHistogramAggregation(),
            ),
        ],
    )
    meter = provider.get_meter("pharos.e2e", "1.0")

    requests = meter.create_counter("app.requests", unit="{request}")
    requests.add(5, {"route": "/a"})
    requests.add(2, {"route": "/a"})

    depth = meter.create_up_down_counter("app.queue.depth")
    depth.add(3, {"queue": "q1"})
    depth.add(-1, {"queue": "q1"})

    meter.create_observable_gauge(
        "app.temperature",
        callbacks=[lambda _options: [Observation(21.5, {"room": "lab"})]],
    )

    latency = meter.create_histogram("app.latency", unit="s")
    for v in (0.25, 0.5, 0.5, 2.0):
        latency.record(v)

    payload = meter.create_histogram("app.payload.size", unit="By")
    for v in (1, 2, 4):
        payload.record(v)

    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        raise SystemExit(__doc__)
    failed = False
    for target, instance in zip(argv[0::2], argv[1::2]):
        kind, _, endpoint = target.partition("=")
        exp = exporter(kind, endpoint)
        result = exp.export(record(instance), timeout_millis=10_000)
        exp.shutdown()
        ok = result == MetricExportResult.SUCCESS
        print(f"{kind} {endpoint} {instance}: {result.name}", flush=True)
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
