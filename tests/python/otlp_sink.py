#!/usr/bin/env python3
"""An OTLP/HTTP trace endpoint that decodes with the official protobuf
classes (the opentelemetry-proto package the SDK's exporters use), so that
Dapple's exporter is checked by a decoder that is not Dapple's own.
tests/tests/otlp_decoder.rs runs it.

Usage: otlp_sink.py --out FILE

Binds 127.0.0.1 on a free port and prints `port N` as stdout's first line.
Answers POST /v1/traces with 200 and an empty ExportTraceServiceResponse
when the body (gzip'd or not) decodes as an ExportTraceServiceRequest, else
400 (411 without a Content-Length). Before answering, appends to FILE one JSON line per request,
{"request": {...}}, then one per span, {"span": {...}}: ids in hex, kind and
status code in lower case ("internal", "error"), attribute values typed as
the wire has them ({"int": 3}, {"string": "x"}, {"array": [...]}, ...).
Runs until killed.
"""

import argparse
import gzip
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status


def value(v):
    """An AnyValue as {type: value}; bytes in hex."""
    which = v.WhichOneof("value")
    if which is None:
        return {"empty": None}
    if which == "string_value":
        return {"string": v.string_value}
    if which == "int_value":
        return {"int": v.int_value}
    if which == "double_value":
        return {"double": v.double_value}
    if which == "bool_value":
        return {"bool": v.bool_value}
    if which == "bytes_value":
        return {"bytes": v.bytes_value.hex()}
    if which == "array_value":
        return {"array": [value(x) for x in v.array_value.values]}
    return {"kvlist": attributes(v.kvlist_value.values)}


def attributes(kvs):
    """KeyValues as a dict; a repeated key is kept as a list of its values,
    so that a duplicate shows."""
    out = {}
    for kv in kvs:
        if kv.key in out:
            previous = out[kv.key]
            out[kv.key] = (previous if isinstance(previous, list) else [previous]) + [
                value(kv.value)
            ]
        else:
            out[kv.key] = value(kv.value)
    return out


def hex_id(raw):
    """An id in hex, or None when absent (empty)."""
    return raw.hex() if raw else None


def lower_enum(enum, number, prefix):
    """`SPAN_KIND_INTERNAL` -> `internal`; an unknown number as itself."""
    try:
        return enum.Name(number).removeprefix(prefix).lower()
    except ValueError:
        return number


def span_record(span, resource, scope):
    return {
        "trace_id": hex_id(span.trace_id),
        "span_id": hex_id(span.span_id),
        "parent_id": hex_id(span.parent_span_id),
        "trace_state": span.trace_state,
        "flags": span.flags,
        "name": span.name,
        "kind": lower_enum(Span.SpanKind, span.kind, "SPAN_KIND_"),
        "start_unix_nanos": span.start_time_unix_nano,
        "end_unix_nanos": span.end_time_unix_nano,
        "attributes": attributes(span.attributes),
        "dropped_attributes": span.dropped_attributes_count,
        "events": [
            {
                "name": e.name,
                "unix_nanos": e.time_unix_nano,
                "attributes": attributes(e.attributes),
            }
            for e in span.events
        ],
        "dropped_events": span.dropped_events_count,
        "links": [
            {
                "trace_id": hex_id(l.trace_id),
                "span_id": hex_id(l.span_id),
                "attributes": attributes(l.attributes),
            }
            for l in span.links
        ],
        "dropped_links": span.dropped_links_count,
        "status": {
            "code": lower_enum(Status.StatusCode, span.status.code, "STATUS_CODE_"),
            "message": span.status.message,
        },
        "resource": attributes(resource.attributes),
        "scope": {
            "name": scope.name,
            "version": scope.version,
            "attributes": attributes(scope.attributes),
        },
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    out = None
    lock = Lock()

    def log_message(self, format, *args):
        pass  # quiet: the test shows what it needs

    def answer(self, status, body=b"", content_type="application/x-protobuf"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self.answer(411, b"a Content-Length is required", "text/plain")
            return
        body = self.rfile.read(int(length))
        if self.path != "/v1/traces":
            self.answer(404, b"not found", "text/plain")
            return
        encoding = self.headers.get("Content-Encoding", "")
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
        except (DecodeError, OSError, EOFError) as e:
            print(f"otlp_sink: undecodable request: {e}", file=sys.stderr, flush=True)
            self.answer(400, str(e).encode(), "text/plain")
            return
        lines = []
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                lines += [
                    {"span": span_record(s, rs.resource, ss.scope)} for s in ss.spans
                ]
        head = {
            "request": {
                "content_type": self.headers.get("Content-Type"),
                "content_encoding": encoding or None,
                "spans": len(lines),
            }
        }
        with self.lock, open(self.out, "a", encoding="utf-8") as out:
            for line in [head] + lines:
                out.write(json.dumps(line) + "\n")
        self.answer(200, ExportTraceServiceResponse().SerializeToString())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the JSON lines file")
    args = parser.parse_args()
    Handler.out = args.out
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
