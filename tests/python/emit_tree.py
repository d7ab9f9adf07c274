#!/usr/bin/env python3
"""Sends one known trace to a Dapple collector through the OpenTelemetry
Python SDK and its OTLP exporter, as any Python service would, then prints
the trace id in hex. tests/tests/otlp_python.rs runs it and checks that the
collector keeps exactly this tree (times in ms after T0):

    GET /checkout        SERVER    0-10  every attribute type the SDK takes
      charge card        CLIENT    1-4   ERROR "card declined"; 3 retry
                                         events, of which the SDK keeps 2
      render receipt     INTERNAL  5-9   linked to a remote span
        load template    INTERNAL  6-7   OK

Usage: emit_tree.py --protocol http|grpc --endpoint URL [--gzip]
(URL: http://HOST:PORT/v1/traces over HTTP, http://HOST:PORT over gRPC).
Exits 1 when the export fails.
"""

import argparse
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

# The root's start, in Unix nanoseconds; every time below is fixed after it.
T0 = 1_700_000_000_000_000_000
MS = 1_000_000

# The remote span that "render receipt" links to.
LINKED_TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
LINKED_SPAN_ID = 0xEEE19B7EC3C1B174


class StampingSampler(Sampler):
    """Samples every span and gives it a trace state, as a vendor's sampler
    does (the SDK's own samplers only pass a parent's on). The span's
    attributes are the result's: they are passed through."""

    def should_sample(self, parent_context, trace_id, name, kind=None,
                      attributes=None, links=None, trace_state=None):
        return SamplingResult(
            Decision.RECORD_AND_SAMPLE,
            attributes=attributes,
            trace_state=TraceState([("dapple", "e2e")]),
        )

    def get_description(self):
        return "StampingSampler"


class CheckedExporter(SpanExporter):
    """The OTLP exporter, counting the spans it exported and its failures
    (the SDK only logs them), so that a failed export fails the script."""

    def __init__(self, inner):
        self.inner = inner
        self.exported = 0
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def otlp_exporter(protocol, endpoint, gzip):
    """The SDK's OTLP/HTTP (protobuf) or OTLP/gRPC span exporter."""
    if protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        compression = Compression.Gzip if gzip else Compression.NoCompression
        return OTLPSpanExporter(endpoint=endpoint, compression=compression, timeout=10)
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )

    compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
    return OTLPSpanExporter(
        endpoint=endpoint, insecure=True, compression=compression, timeout=10
    )


def emit(tracer):
    """Records the tree; returns the root span."""
    root = tracer.start_span(
        "GET /checkout",
        kind=SpanKind.SERVER,
        start_time=T0,
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "checkout.express": True,
            "checkout.total": 42.5,
            "checkout.items": ["book", "pen"],
            "checkout.quantities": [1, -2, 3],
            "checkout.discounts": [0.5, 0.25],
            "checkout.gift": [True, False],
            "checkout.receipt": b"\x00\xfe\xff",
            "checkout.customer": {"id": 7, "tier": "gold"},
            "checkout.notes": ["fragile", 2, None],
        },
    )
    in_root = trace.set_span_in_context(root)

    charge = tracer.start_span(
        "charge card", context=in_root, kind=SpanKind.CLIENT, start_time=T0 + 1 * MS
    )
    for attempt in (1, 2, 3):
        charge.add_event(
            "retry",
            {"attempt": attempt, "backoff.ms": 12.5 * attempt, "card.brand": "visa"},
            timestamp=T0 + 2 * MS + (attempt - 1) * MS // 2,
        )
    charge.set_status(Status(StatusCode.ERROR, "card declined"))
    charge.end(end_time=T0 + 4 * MS)

    linked = SpanContext(
        trace_id=LINKED_TRACE_ID,
        span_id=LINKED_SPAN_ID,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    render = tracer.start_span(
        "render receipt",
        context=in_root,
        start_time=T0 + 5 * MS,
        links=[Link(linked, {"link.reason": "reprint", "link.copies": 2})],
    )
    load = tracer.start_span(
        "load template",
        context=trace.set_span_in_context(render),
        start_time=T0 + 6 * MS,
    )
    load.set_status(Status(StatusCode.OK))
    load.end(end_time=T0 + 7 * MS)
    render.end(end_time=T0 + 9 * MS)
    root.end(end_time=T0 + 10 * MS)
    return root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["http", "grpc"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--gzip", action="store_true", help="compress requests")
    args = parser.parse_args()

    exporter = CheckedExporter(otlp_exporter(args.protocol, args.endpoint, args.gzip))
    provider = TracerProvider(
        resource=Resource(
            {
                "service.name": "py-checkout",
                "service.version": "2.0.1",
                "deployment.environment.name": "e2e",
                "host.cpus": 4,
            }
        ),
        sampler=StampingSampler(),
        span_limits=SpanLimits(max_events=2),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer(
        "dapple.e2e.checkout", "0.4.2", attributes={"scope.team": "payments"}
    )

    root = emit(tracer)
    # Exports what is left and waits for it: nothing is lost at exit.
    provider.shutdown()

    if exporter.failures or exporter.exported != 4:
        print(
            f"export failed: {exporter.exported} of 4 spans exported, "
            f"{exporter.failures} failed exports",
            file=sys.stderr,
        )
        return 1
    print(format(root.get_span_context().trace_id, "032x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
