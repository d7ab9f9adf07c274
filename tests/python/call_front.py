#!/usr/bin/env python3
"""A Python client of Dapple's webapp demo, instrumented with the
OpenTelemetry SDK as any Python service would be: a root span, and a CLIENT
span around a GET of the front service's page whose W3C `traceparent`
header the TraceContext propagator writes. The spans go to a Dapple
collector over OTLP/HTTP. tests/tests/cross_language.rs runs it and checks
that the Python spans and the Rust services' spans form one trace:

    python.checkout      SERVER  (this script)
      GET                CLIENT  (this script) -> traceparent
        GET /            SERVER  (the front service, in Rust) ...

Usage: call_front.py --endpoint URL --front URL --service NAME
(endpoint: http://HOST:PORT/v1/traces). Prints one JSON line: the trace id,
the root and client span ids (hex), the page's status and its
`traceresponse` header. Fails when the page (urllib raises on an error
status) or the export fails.
"""

import argparse
import json
import sys
import urllib.parse
import urllib.request

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator


class CheckedExporter(SpanExporter):
    """The OTLP exporter, counting what it exported and its failures (the
    SDK only logs them), so that a failed export fails the script."""

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


def get_page(tracer, url):
    """GETs `url` in a CLIENT span that the request's headers carry on:
    the client span, the status and the `traceresponse` header."""
    parts = urllib.parse.urlsplit(url)
    with tracer.start_as_current_span(
        "GET",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": "GET",
            "url.full": url,
            "server.address": parts.hostname,
            "server.port": parts.port,
        },
    ) as client:
        headers = {}
        propagate.inject(headers)
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=30
        ) as response:
            response.read()
            client.set_attribute("http.response.status_code", response.status)
            return client, response.status, response.headers.get("traceresponse")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--front", required=True)
    parser.add_argument("--service", required=True)
    args = parser.parse_args()

    propagate.set_global_textmap(TraceContextTextMapPropagator())
    exporter = CheckedExporter(OTLPSpanExporter(endpoint=args.endpoint, timeout=10))
    provider = TracerProvider(resource=Resource({"service.name": args.service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("dapple.e2e.shopper", "1.0.0")

    with tracer.start_as_current_span("python.checkout", kind=SpanKind.SERVER) as root:
        client, status, traceresponse = get_page(tracer, args.front.rstrip("/") + "/")
    # Exports what is left and waits for it: nothing is lost at exit.
    provider.shutdown()

    if exporter.failures or exporter.exported != 2:
        print(
            f"export failed: {exporter.exported} of 2 spans exported, "
            f"{exporter.failures} failed exports",
            file=sys.stderr,
        )
        return 1
    print(
        json.dumps(
            {
                "trace_id": format(root.get_span_context().trace_id, "032x"),
                "root_span_id": format(root.get_span_context().span_id, "016x"),
                "client_span_id": format(client.get_span_context().span_id, "016x"),
                "status": status,
                "traceresponse": traceresponse,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
