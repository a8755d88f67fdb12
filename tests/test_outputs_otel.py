"""The OpenTelemetry logs output: records handed to the real OTel Logs SDK, read back from
its in-memory exporter and from an OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from flext_logging import FlextContext, configure, get_logger, shutdown
from flext_logging.outputs import failure_counts
from flext_logging.outputs.otel import OpenTelemetryOutput

logger = get_logger("tests.otel")
Records = list[dict[str, Any]]


@pytest.fixture
def exported() -> Iterator[tuple[LoggerProvider, InMemoryLogRecordExporter]]:
    """A real SDK LoggerProvider exporting to memory, synchronously."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _lines(stream: io.StringIO) -> Records:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _by_body(logs: list[ReadableLogRecord], body: str) -> ReadableLogRecord:
    [found] = [log for log in logs if log.log_record.body == body]
    return found


def _nanoseconds(timestamp: str) -> int:
    import datetime

    moment = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return int(moment.replace(microsecond=0).timestamp()) * 10**9 + moment.microsecond * 1000


@pytest.mark.parametrize("async_output", [False, True])
def test_every_record_reaches_the_logs_sdk_in_its_data_model(
    exported: tuple[LoggerProvider, InMemoryLogRecordExporter], async_output: bool
) -> None:
    """Ours and stdlib's records: body, severity, scope, attributes, trace ids and flags."""
    provider, exporter = exported
    stream = io.StringIO()
    configure(
        format="json",
        stream=stream,
        service_name="checkout",
        otel_logs=provider,
        async_output=async_output,
    )
    with (
        FlextContext.Request.request_context(request_id="req-1"),
        FlextContext.Trace.span(flags="00") as span,
    ):
        logger.warning("paid", order={"id": 7, "lines": [1, "two", None]}, huge=2**70)
        logging.getLogger("tests.stdlib").error("stdlib says %s", "hi", extra={"n": 1})
    try:
        raise ValueError("bad card")
    except ValueError:
        logger.exception("failed", api_token="abc123secret")
    shutdown()
    written = {record["message"]: record for record in _lines(stream)}
    logs = exporter.get_finished_logs()
    assert len(logs) == 3

    paid = _by_body(logs, "paid")
    record = paid.log_record
    assert (record.severity_text, record.severity_number.value) == ("WARN", 13)
    assert paid.instrumentation_scope is not None
    assert paid.instrumentation_scope.name == "tests.otel"
    assert record.timestamp == _nanoseconds(written["paid"]["timestamp"])
    assert (format(record.trace_id, "032x"), format(record.span_id, "016x")) == (
        span.trace_id,
        span.span_id,
    )
    assert int(record.trace_flags) == 0  # the span's own flags
    attributes = dict(record.attributes or {})
    assert attributes["request_id"] == "req-1"
    assert attributes["service_name"] == "checkout"
    assert attributes["order"] == {"id": 7, "lines": (1, "two", None)}
    assert attributes["huge"] == str(2**70)  # OTLP integers are 64-bit
    for head in ("timestamp", "level", "logger", "message", "trace_id", "span_id"):
        assert head not in attributes
    assert paid.resource.attributes["service.name"] == "checkout"

    stdlib = _by_body(logs, "stdlib says hi").log_record
    assert (stdlib.severity_text, stdlib.severity_number.value) == ("ERROR", 17)
    assert format(stdlib.span_id, "016x") == span.span_id
    assert dict(stdlib.attributes or {})["n"] == 1

    failed = _by_body(logs, "failed").log_record
    assert failed.span_id == 0  # made outside any span
    failed_attributes = dict(failed.attributes or {})
    assert failed_attributes["api_token"] == "[REDACTED]"
    assert failed_attributes["exception.type"] == "ValueError"
    assert failed_attributes["exception.message"] == "bad card"
    assert failed_attributes["error"]["type"] == "ValueError"


def test_a_span_made_here_is_sampled_and_levels_map_to_severities(
    exported: tuple[LoggerProvider, InMemoryLogRecordExporter],
) -> None:
    """debug..critical map to 5/9/13/17/21; a span started here has the sampled flag."""
    provider, exporter = exported
    configure(format="json", stream=io.StringIO(), level="DEBUG", otel_logs=provider)
    with FlextContext.Trace.span():
        for method in ("debug", "info", "warning", "error", "critical"):
            getattr(logger, method)(method)
    severities = [
        (log.log_record.body, log.log_record.severity_text, log.log_record.severity_number.value)
        for log in exporter.get_finished_logs()
    ]
    assert severities == [
        ("debug", "DEBUG", 5),
        ("info", "INFO", 9),
        ("warning", "WARN", 13),
        ("error", "ERROR", 17),
        ("critical", "FATAL", 21),
    ]
    assert {int(log.log_record.trace_flags) for log in exporter.get_finished_logs()} == {1}


def test_records_about_the_sdk_itself_are_not_handed_back_to_it(
    exported: tuple[LoggerProvider, InMemoryLogRecordExporter],
) -> None:
    """An exporter's own warning goes to the other outputs only: no feedback loop."""
    provider, exporter = exported
    stream = io.StringIO()
    configure(format="json", stream=stream, otel_logs=provider)
    logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")
    logger.info("app record")
    assert [log.log_record.body for log in exporter.get_finished_logs()] == ["app record"]
    assert [r["message"] for r in _lines(stream)] == ["export failed", "app record"]


def test_a_failing_provider_never_loses_the_record_or_raises() -> None:
    """The SDK's failure is counted; the line still reaches the stream (and stderr)."""

    class BrokenProvider:
        def get_logger(self, name: str, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("provider is down")

    stream = io.StringIO()
    configure(format="json", stream=stream, otel_logs=BrokenProvider())  # type: ignore[arg-type]
    logger.info("still written")
    assert [r["message"] for r in _lines(stream)] == ["still written"]
    assert failure_counts()["sink"] == 1


def test_missing_sdk_fails_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra, asking for the output names the pip command to run."""
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    with pytest.raises(ImportError, match=r"pip install 'flext-logging\[otel\]'"):
        configure(otel_logs=True)
    monkeypatch.undo()
    assert isinstance(OpenTelemetryOutput(), OpenTelemetryOutput)


# -- Through a real OTLP/HTTP exporter to a receiver on 127.0.0.1 ------------------------


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP logs endpoint: decodes each protobuf request it is posted."""

    received: list[ExportLogsServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        self.server.received.append(request)  # type: ignore[attr-defined]
        reply = ExportLogsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Stay quiet: the test reads what was received."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportLogsServiceRequest]]]:
    """A small real HTTP server decoding OTLP logs requests, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/logs", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind is not None else None


def test_records_exported_over_otlp_http_arrive_in_the_data_model(
    receiver: tuple[str, list[ExportLogsServiceRequest]],
) -> None:
    """The OTLP/HTTP exporter posts our records; the receiver decodes every field."""
    endpoint, received = receiver
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, timeout=10))
    )
    try:
        configure(format="json", stream=io.StringIO(), otel_logs=provider)
        with (
            FlextContext.Correlation.new_correlation() as correlation_id,
            FlextContext.Trace.span() as span,
        ):
            logger.info("order placed", order_id="o-1", amount=12.5, items=[1, 2])
            logging.getLogger("tests.stdlib").warning("stock low")
        assert provider.force_flush(timeout_millis=10_000)
    finally:
        provider.shutdown()
    logs = [
        (scope.scope.name, log)
        for request in received
        for resource in request.resource_logs
        for scope in resource.scope_logs
        for log in scope.log_records
    ]
    assert [(name, log.body.string_value) for name, log in logs] == [
        ("tests.otel", "order placed"),
        ("tests.stdlib", "stock low"),
    ]
    placed = logs[0][1]
    assert (placed.severity_text, placed.severity_number) == ("INFO", 9)
    assert placed.trace_id.hex() == span.trace_id
    assert placed.span_id.hex() == span.span_id
    assert placed.flags & 0xFF == 1
    attributes = {item.key: _value(item.value) for item in placed.attributes}
    assert attributes["correlation_id"] == correlation_id
    assert attributes["order_id"] == "o-1"
    assert attributes["amount"] == 12.5
    assert attributes["items"] == [1, 2]
    assert logs[1][1].severity_text == "WARN"
    resource = received[0].resource_logs[0].resource
    assert {a.key: _value(a.value) for a in resource.attributes}["service.name"] == "checkout"
