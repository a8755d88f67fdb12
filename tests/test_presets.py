"""Schema presets: ECS, Cloud Logging, Datadog and OpenTelemetry names, and back again."""

from __future__ import annotations

import contextlib
import datetime
import io
import ipaddress
import itertools
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flext_logging import FlextContext, _pipeline, configure, get_logger, keys, presets
from flext_logging import logger as logger_module
from flext_logging.outputs import FileOutput, StreamOutput
from flext_logging.renderers import SchemaRenderer, dumps_record, fit_record

DOCS = Path(__file__).resolve().parent.parent / "docs" / "aggregators.md"
WHEN = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
CONTEXT = {
    keys.CORRELATION_ID: "8f14e45fceea167a5a36dedd4bea2543",
    keys.PARENT_CORRELATION_ID: "c9f0f895fb98ab9159f51fd0297e236d",
    keys.TRACE_ID: TRACE,
    keys.SPAN_ID: SPAN,
    keys.REQUEST_ID: "req-7f3a",
    keys.SERVICE_NAME: "user-service",
    keys.SERVICE_VERSION: "1.4.0",
    keys.ENVIRONMENT: "production",
    keys.USER_ID: "u-42",
    keys.OPERATION_NAME: "signup",
    keys.OPERATION: "load_user",
}
ERROR = {
    keys.ERROR_TYPE_NAME: "flext_logging.exceptions.ValidationError",
    keys.ERROR_MESSAGE: "invalid email",
    keys.ERROR_CODE: "VALIDATION_ERROR",
    keys.ERROR_CONTEXT: {"field": "email", "nested": {"deep": [1, 2]}},
    keys.ERROR_CORRELATION_ID: CONTEXT[keys.CORRELATION_ID],
    keys.ERROR_STACK: [
        {keys.FRAME_FILE: "/app/users.py", keys.FRAME_LINE: 12, keys.FRAME_FUNCTION: "create"},
        {keys.FRAME_FILE: "/app/check.py", keys.FRAME_LINE: 3, keys.FRAME_FUNCTION: "email"},
    ],
    keys.ERROR_CAUSE: {keys.ERROR_TYPE_NAME: "ValueError", keys.ERROR_MESSAGE: "no @"},
}


def _record(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        keys.TIMESTAMP: WHEN,
        keys.LEVEL: "info",
        keys.LOGGER: "users",
        keys.MESSAGE: "user created",
        **CONTEXT,
    }
    record.update(fields)
    return record


SAMPLES = {
    "plain": _record(plan="pro", seats=3),
    "request": _record(
        message=keys.EVENT_REQUEST_FINISHED,
        method="POST",
        path="/users",
        route="/users",
        status_code=201,
        client_ip="10.0.0.7",
        user_agent="curl/8.5",
        duration_ms=12.345,
    ),
    "client call": _record(
        message=keys.EVENT_HTTP_REQUEST_FINISHED,
        method="GET",
        url="https://api.example.com/v1/items",
        status_code=200,
        duration_ms=3.0,
        parent_span_id="00f067aa0ba902b7",
    ),
    "test client": _record(message=keys.EVENT_REQUEST_STARTED, client_ip="testclient"),
    "http fields elsewhere": _record(method="sgd", path="relative/dir", status_code="x"),
    "operation": _record(
        message=keys.EVENT_OPERATION_FAILED,
        level="error",
        duration_ms=1.5,
        status=keys.STATUS_FAILED,
        error_type="ValueError",
        error_code="E1",
        metadata={"rows": 3},
    ),
    "error": _record(level="error", message="failed", error=ERROR),
    "odd values": _record(
        duration_ms="slow",
        status="pending",
        error="just text",
        level="notice",
        trace_id="not-hex",
    ),
    "reserved names": _record(
        service="billing",
        host="h1",
        severity="low",
        time="noon",
        labels={"a": "b"},
        **{
            "flext.x": 1,
            "error.kind": "mine",
            "dd.custom": 2,
            "logging.googleapis.com/x": 3,
            "exception.type": "mine",
            "Attributes": 4,
            "log.level": "mine",
        },
    ),
    "head only": {
        keys.TIMESTAMP: "2024-05-06T07:08:09.000000Z",
        keys.LEVEL: "debug",
        keys.LOGGER: "",
        keys.MESSAGE: "",
    },
}


def _json(value: Any) -> Any:
    """What a reader gets back from the line: the value after a JSON round trip."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z))


def _encoded(schema: str, record: dict[str, Any], **options: Any) -> dict[str, Any]:
    return _json(presets.preset(schema, **options).encode(record))  # type: ignore[no-any-return]


# -- The one table ------------------------------------------------------------------------


def test_docs_show_the_table_the_code_uses() -> None:
    """docs/aggregators.md carries the table made from presets.FIELDS, unchanged."""
    assert presets.markdown_table() in DOCS.read_text(encoding="utf-8")


def test_every_schema_field_of_the_record_is_in_the_table() -> None:
    """The head, the context and the HTTP and error fields each have a row."""
    sources = {row.source for row in presets.FIELDS}
    expected = {
        *keys.RECORD_KEYS,
        keys.DURATION_MS,
        keys.STATUS,
        keys.HTTP_METHOD,
        keys.HTTP_PATH,
        keys.HTTP_URL,
        keys.STATUS_CODE,
        keys.CLIENT_IP,
        keys.USER_AGENT,
        f"{keys.ERROR}.{keys.ERROR_TYPE_NAME}",
        f"{keys.ERROR}.{keys.ERROR_MESSAGE}",
        f"{keys.ERROR}.{keys.ERROR_STACK}",
    }
    assert expected <= sources


# -- Round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("schema", presets.PRESETS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_a_preset_line_reads_back_as_the_flat_record(schema: str, sample: str) -> None:
    """decode(encode(record)) is the record, whatever its fields hold."""
    record = SAMPLES[sample]
    line = _encoded(schema, record, gcp_project="my-project")
    assert presets.detect(line) == schema
    assert presets.to_flat(line) == _json(record)


@pytest.mark.parametrize(
    "line",
    [
        {"timestamp": "2024-05-06T07:08:09Z", "status": 200, "message": "GET /"},
        {"time": "noon", "severity": "low", "message": "x"},
        {"Body": "hello"},
    ],
)
def test_a_line_without_a_full_preset_head_is_not_taken_for_one(line: dict[str, Any]) -> None:
    """Another library's line that shares some names is left to the reader as it is."""
    assert presets.detect(line) == "flat"
    assert presets.to_flat(line) == line


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_read_back_keeps_the_schema_order_of_the_head_and_context(schema: str) -> None:
    """The flat record comes back with timestamp, level, logger, message, context first."""
    record = SAMPLES["request"]
    flat = presets.to_flat(_encoded(schema, record))
    assert list(flat)[: 4 + len(CONTEXT)] == list(record)[: 4 + len(CONTEXT)]


_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize("schema", presets.PRESETS)
@settings(max_examples=150, deadline=None)
@given(fields=st.dictionaries(_names, _values, max_size=6))
def test_any_call_fields_survive_every_preset(schema: str, fields: dict[str, Any]) -> None:
    """Whatever the call's own fields are named and hold, they come back unchanged."""
    for name in (*keys.RECORD_KEYS, keys.ERROR):
        fields.pop(name, None)
    record = _record(**fields)
    assert presets.to_flat(_encoded(schema, record)) == _json(record)


_frames = st.lists(
    st.fixed_dictionaries(
        {
            keys.FRAME_FILE: st.text(max_size=20),
            keys.FRAME_LINE: st.integers(1, 10_000),
            keys.FRAME_FUNCTION: st.text(
                alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                min_size=1,
                max_size=12,
            ),
        }
    ),
    max_size=3,
)
_errors = st.fixed_dictionaries(
    {keys.ERROR_TYPE_NAME: st.text(max_size=10), keys.ERROR_MESSAGE: st.text(max_size=10)},
    optional={
        keys.ERROR_STACK: _frames | _values,
        keys.ERROR_CODE: _values,
        keys.ERROR_CONTEXT: _values,
        "kind": _values,
        "stack_trace": _values,
    },
)


@pytest.mark.parametrize("schema", presets.PRESETS)
@settings(max_examples=150, deadline=None)
@given(error=_errors | _values)
def test_any_error_object_survives_every_preset(schema: str, error: Any) -> None:
    """An error of any shape, frames included, comes back as it was logged."""
    record = _record(level="error", error=error)
    assert presets.to_flat(_encoded(schema, record)) == _json(record)


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_encoding_leaves_the_record_as_it_was(schema: str) -> None:
    """Other outputs render the same record: a preset never changes it."""
    record = SAMPLES["error"]
    before = _json(record)
    presets.preset(schema).encode(record, "01")
    assert _json(record) == before


# -- ECS ------------------------------------------------------------------------------------

# The ECS 8.11.0 type of every ECS field the preset writes, from elastic/ecs v8.11.0
# generated/csv/fields.csv (https://github.com/elastic/ecs/blob/v8.11.0/generated/csv/fields.csv).
ECS_TYPES = {
    "@timestamp": "date",
    "client.address": "keyword",
    "client.ip": "ip",
    "ecs.version": "keyword",
    "error.code": "keyword",
    "error.message": "match_only_text",
    "error.stack_trace": "wildcard",
    "error.type": "keyword",
    "event.dataset": "keyword",
    "event.duration": "long",
    "event.outcome": "keyword",
    "http.request.method": "keyword",
    "http.response.status_code": "long",
    "log.level": "keyword",
    "log.logger": "keyword",
    "message": "match_only_text",
    "process.pid": "long",
    "service.environment": "keyword",
    "service.name": "keyword",
    "service.version": "keyword",
    "span.id": "keyword",
    "trace.id": "keyword",
    "transaction.id": "keyword",
    "url.full": "wildcard",
    "url.path": "wildcard",
    "user.id": "keyword",
    "user_agent.original": "keyword",
}
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _has_ecs_type(value: Any, ecs_type: str) -> bool:
    if ecs_type in ("keyword", "wildcard", "match_only_text"):
        return isinstance(value, str)
    if ecs_type == "long":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if ecs_type == "date":
        return isinstance(value, str) and _RFC3339.fullmatch(value) is not None
    if ecs_type == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    raise AssertionError(ecs_type)


def test_the_table_writes_only_ecs_fields_whose_type_is_known() -> None:
    """Each ECS name in the table is one of ECS 8.11's fields listed above, or a label."""
    written = {
        target.path[0] for row in presets.FIELDS for target in presets.cell_targets(row, "ecs")
    }
    assert {name for name in written if not name.startswith("labels.")} <= set(ECS_TYPES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_ecs_values_have_the_ecs_field_types(sample: str) -> None:
    """Every field of an ECS line has its ECS type; labels are keywords; the rest is flext.*."""
    line = _encoded("ecs", SAMPLES[sample])
    for name, value in line.items():
        if name in ECS_TYPES:
            assert _has_ecs_type(value, ECS_TYPES[name]), (name, value)
        elif name.startswith("labels."):
            assert isinstance(value, str), (name, value)
        else:
            assert name.startswith("flext."), name


def test_ecs_line_follows_ecs_logging() -> None:
    """@timestamp, log.level and message come first; ecs.version is on the line."""
    line = _encoded("ecs", SAMPLES["plain"])
    assert list(line)[:3] == ["@timestamp", "log.level", "message"]
    assert line["ecs.version"] == presets.ECS_VERSION
    assert line["event.dataset"] == "user-service.log"
    assert line["labels.correlation_id"] == CONTEXT[keys.CORRELATION_ID]
    assert line["transaction.id"] == CONTEXT[keys.REQUEST_ID]
    assert line["flext.plan"] == "pro"


def test_ecs_duration_is_nanoseconds_and_status_an_outcome() -> None:
    """event.duration is a long in ns; event.outcome is success or failure."""
    line = _encoded("ecs", SAMPLES["operation"])
    assert line["event.duration"] == 1_500_000
    assert line["event.outcome"] == "failure"
    request = _encoded("ecs", SAMPLES["request"])
    assert request["event.duration"] == 12_345_000
    assert request["client.ip"] == request["client.address"] == "10.0.0.7"
    assert "client.ip" not in _encoded("ecs", SAMPLES["test client"])


def test_stack_traces_are_python_traceback_text() -> None:
    """error.stack_trace is what Python prints, so trackers parse it."""
    line = _encoded("ecs", SAMPLES["error"])
    assert line["error.stack_trace"] == (
        "Traceback (most recent call last):\n"
        '  File "/app/users.py", line 12, in create\n'
        '  File "/app/check.py", line 3, in email\n'
        "flext_logging.exceptions.ValidationError: invalid email"
    )
    assert line["error.code"] == "VALIDATION_ERROR"
    assert line["flext.error"] == {
        keys.ERROR_CONTEXT: ERROR[keys.ERROR_CONTEXT],
        keys.ERROR_CORRELATION_ID: ERROR[keys.ERROR_CORRELATION_ID],
        keys.ERROR_CAUSE: ERROR[keys.ERROR_CAUSE],
    }


# -- Cloud Logging ----------------------------------------------------------------------------

_LOG_SEVERITIES = {"DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"}


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error", "critical"])
def test_gcp_severity_is_a_log_severity_name(level: str) -> None:
    """severity is one of Cloud Logging's LogSeverity names."""
    assert _encoded("gcp", _record(level=level))["severity"] in _LOG_SEVERITIES


def test_gcp_trace_names_the_project_when_one_is_given() -> None:
    """projects/P/traces/ID links to Cloud Trace; without a project the id stays bare."""
    with_project = _encoded("gcp", SAMPLES["plain"], gcp_project="my-project")
    assert with_project["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE}"
    assert with_project["logging.googleapis.com/spanId"] == SPAN
    assert _encoded("gcp", SAMPLES["plain"])["logging.googleapis.com/trace"] == TRACE


def test_gcp_http_request_is_written_on_request_records_only() -> None:
    """httpRequest holds method, URL, status, latency, user agent and IP of a request."""
    line = _encoded("gcp", SAMPLES["request"])
    assert line["httpRequest"] == {
        "requestMethod": "POST",
        "requestUrl": "/users",
        "status": 201,
        "remoteIp": "10.0.0.7",
        "userAgent": "curl/8.5",
        "latency": "0.012345s",
    }
    assert line["route"] == "/users"
    other = _encoded("gcp", SAMPLES["http fields elsewhere"])
    assert "httpRequest" not in other
    assert other["method"] == "sgd"


def test_gcp_labels_are_strings_and_service_context_names_the_service() -> None:
    """Labels carry the context ids; serviceContext is what Error Reporting groups by."""
    line = _encoded("gcp", SAMPLES["error"])
    labels = line["logging.googleapis.com/labels"]
    assert labels[keys.CORRELATION_ID] == CONTEXT[keys.CORRELATION_ID]
    assert all(isinstance(value, str) for value in labels.values())
    assert line["serviceContext"] == {"service": "user-service", "version": "1.4.0"}
    assert line["stack_trace"].startswith("Traceback (most recent call last):\n")
    assert line["error"][keys.ERROR_CODE] == "VALIDATION_ERROR"


# -- Datadog ----------------------------------------------------------------------------------


def test_datadog_ids_are_the_low_64_bits_in_decimal() -> None:
    """dd.trace_id / dd.span_id are unsigned decimals of the ids' low 64 bits."""
    line = _encoded("datadog", SAMPLES["plain"])
    assert line["dd.trace_id"] == str(int(TRACE[16:], 16)) == "9532127138774266268"
    assert line["dd.span_id"] == str(int(SPAN, 16)) == "13235353014750950193"
    assert (line["trace_id"], line["span_id"]) == (TRACE, SPAN)
    assert (line["dd.service"], line["dd.env"], line["dd.version"]) == (
        "user-service",
        "production",
        "1.4.0",
    )
    assert line["usr.id"] == "u-42"
    assert line["status"] == "info"


def test_datadog_error_and_duration_use_the_standard_attributes() -> None:
    """error.kind/message/stack for Error Tracking; duration in nanoseconds."""
    line = _encoded("datadog", SAMPLES["error"])
    assert line["error.kind"] == ERROR[keys.ERROR_TYPE_NAME]
    assert line["error.message"] == "invalid email"
    assert line["error.stack"].startswith("Traceback (most recent call last):\n")
    request = _encoded("datadog", SAMPLES["request"])
    assert request["duration"] == 12_345_000
    assert request["http.status_code"] == 201
    assert request["network.client.ip"] == "10.0.0.7"


def test_datadog_reserved_names_of_the_call_move_under_flext() -> None:
    """A call's own "service" or "host" would change Datadog's meaning: flext.* keeps them."""
    line = _encoded("datadog", SAMPLES["reserved names"])
    assert line["flext.service"] == "billing"
    assert line["flext.host"] == "h1"
    assert "service" not in line
    assert line["flext.error.kind"] == "mine"


# -- OpenTelemetry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "number"),
    [("debug", 5), ("info", 9), ("warning", 13), ("error", 17), ("critical", 21)],
)
def test_otel_severity_number_is_the_first_of_its_range(level: str, number: int) -> None:
    """SeverityNumber follows the log data model's ranges."""
    line = _encoded("otel", _record(level=level))
    assert (line["SeverityText"], line["SeverityNumber"]) == (level, number)


def test_otel_record_follows_the_log_data_model() -> None:
    """Timestamp in ns as text, ids, Resource, scope, and the rest as Attributes."""
    line = _encoded("otel", SAMPLES["error"])
    expected_ns = int(WHEN.timestamp()) * 10**9 + WHEN.microsecond * 1000
    assert line["Timestamp"] == str(expected_ns)
    assert (line["TraceId"], line["SpanId"], line["Body"]) == (TRACE, SPAN, "failed")
    assert line["Resource"] == {
        "service.name": "user-service",
        "service.version": "1.4.0",
        "deployment.environment.name": "production",
    }
    assert line["InstrumentationScope"] == {"Name": "users"}
    attributes = line["Attributes"]
    assert attributes["exception.type"] == ERROR[keys.ERROR_TYPE_NAME]
    assert attributes["exception.stacktrace"].startswith("Traceback")
    assert attributes["user.id"] == "u-42"
    assert attributes[keys.CORRELATION_ID] == CONTEXT[keys.CORRELATION_ID]


# -- Through configure() ---------------------------------------------------------------------------


@pytest.mark.parametrize(("flags", "sampled"), [("01", True), ("00", False)])
def test_trace_flags_come_from_the_span_the_record_was_made_in(flags: str, sampled: bool) -> None:
    """gcp trace_sampled and otel TraceFlags follow the W3C flags of the active span."""
    for schema, name, expected in (
        ("gcp", "logging.googleapis.com/trace_sampled", sampled),
        ("otel", "TraceFlags", int(flags, 16)),
    ):
        stream = io.StringIO()
        configure(schema=schema, stream=stream, capture_stdlib=False)
        with FlextContext.Trace.span(trace_id=TRACE, flags=flags):
            get_logger("t").info("inside")
        get_logger("t").info("outside")
        inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
        assert inside[name] is expected or inside[name] == expected
        assert name not in outside


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_configure_schema_writes_the_preset(schema: str) -> None:
    """configure(schema=...) writes every record in the preset, read back by to_flat."""
    stream = io.StringIO()
    configure(schema=schema, stream=stream, service_name="svc", capture_stdlib=False)
    with FlextContext.Correlation.new_correlation() as correlation:
        get_logger("app").info("hello", plan="pro")
    (line,) = stream.getvalue().splitlines()
    parsed = json.loads(line)
    assert presets.detect(parsed) == schema
    flat = presets.to_flat(parsed)
    assert flat[keys.CORRELATION_ID] == correlation
    assert (flat[keys.MESSAGE], flat["plan"], flat[keys.SERVICE_NAME]) == ("hello", "pro", "svc")


def test_schema_from_the_environment_and_auto_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """FLEXT_LOG_SCHEMA selects a preset; a preset turns format "auto" into JSON."""
    monkeypatch.setenv("FLEXT_LOG_SCHEMA", "ECS")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    configure(stream=stream, capture_stdlib=False)
    get_logger("app").info("hello")
    assert json.loads(stream.getvalue())["log.level"] == "info"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"schema": "elastic"}, "schema must be one of flat, ecs, gcp, datadog, otel"),
        ({"schema": "ecs", "format": "console"}, "cannot go with console"),
        ({"schema": "gcp", "format": "logfmt"}, "cannot go with logfmt"),
    ],
)
def test_a_schema_that_cannot_apply_is_an_error(options: dict[str, Any], message: str) -> None:
    """An unknown preset, or a preset with a non-JSON format, fails at configure()."""
    with pytest.raises(ValueError, match=message):
        configure(**options)


def test_gcp_project_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """GOOGLE_CLOUD_PROJECT names the project of the trace, as Google's libraries read it."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    stream = io.StringIO()
    configure(schema="gcp", stream=stream, capture_stdlib=False)
    with FlextContext.Trace.span(trace_id=TRACE):
        get_logger("app").info("hello")
    line = json.loads(stream.getvalue())
    assert line["logging.googleapis.com/trace"] == f"projects/env-project/traces/{TRACE}"


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_a_record_over_the_cap_is_cut_in_the_flat_form(schema: str) -> None:
    """The size cap keeps the head and ids whole, under the preset's names."""
    renderer = SchemaRenderer(schema, max_record_bytes=2048)
    record = _record(big="x" * 10_000, small="kept")
    line = renderer(None, "info", record)
    assert len(line) <= 2048
    flat = presets.to_flat(json.loads(line))
    assert flat[keys.CORRELATION_ID] == CONTEXT[keys.CORRELATION_ID]
    assert flat[keys.TRUNCATED] is True
    assert flat[keys.TRUNCATED_FIELDS] == ["big"]
    assert flat["small"] == "kept"


# -- Per output ----------------------------------------------------------------------------


def test_each_output_can_have_its_own_preset(tmp_path: Path) -> None:
    """stdout as ECS for the aggregator, the file flat for the CLI: the same record."""
    stream = io.StringIO()
    path = tmp_path / "app.log"
    configure(
        outputs=[StreamOutput(stream, schema="ecs"), FileOutput(path)],
        capture_stdlib=False,
        service_name="svc",
    )
    with FlextContext.Correlation.new_correlation():
        get_logger("app").info("hello", plan="pro")
    ecs = json.loads(stream.getvalue())
    flat = json.loads(path.read_text(encoding="utf-8"))
    assert presets.detect(ecs) == "ecs"
    assert presets.detect(flat) == "flat"
    assert presets.to_flat(ecs) == flat


def test_configure_schema_is_the_preset_of_outputs_without_one() -> None:
    """configure(schema=...) applies to JSON outputs that name none; a console stays console."""
    json_stream, console, own = io.StringIO(), io.StringIO(), io.StringIO()
    configure(
        schema="datadog",
        outputs=[
            StreamOutput(json_stream),
            StreamOutput(console, format="console"),
            StreamOutput(own, schema="gcp"),
        ],
        capture_stdlib=False,
    )
    get_logger("app").warning("careful")
    assert json.loads(json_stream.getvalue())["status"] == "warning"
    assert json.loads(own.getvalue())["severity"] == "WARNING"
    assert "careful" in console.getvalue()
    assert not console.getvalue().startswith("{")


def test_an_output_preset_with_a_console_format_is_an_error() -> None:
    """StreamOutput(format="console", schema="ecs") cannot be: ValueError at configure()."""
    with pytest.raises(ValueError, match="cannot go with console"):
        configure(outputs=[StreamOutput(io.StringIO(), format="console", schema="ecs")])
    with pytest.raises(ValueError, match="schema must be one of"):
        configure(outputs=[StreamOutput(io.StringIO(), schema="elastic")])


# -- The renderer's fast path: the same bytes as encoding each record anew -----------------


def _reference(schema: str, record: dict[str, Any], limit: int | None, flags: str | None) -> bytes:
    """The line as SchemaRenderer wrote it before encoders were compiled: encode, dump."""
    encode = presets.preset(schema).encode
    line = dumps_record(encode(record, flags))
    if limit is not None and len(line) > limit:
        return fit_record(record, limit, lambda d: dumps_record(encode(d, flags)))  # type: ignore[return-value]
    return line


class _AlwaysEqual:
    """A value that claims to equal anything (and hashes like a context id)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"AlwaysEqual({self.text!r})"


_SHARED = "one object in two fields"
_CORPUS: dict[str, dict[str, Any]] = {
    **SAMPLES,
    "process id": {**_record(plan="pro"), keys.PROCESS_ID: 4242},
    "process id first": {keys.PROCESS_ID: 7, **_record()},
    "no context": {
        keys.TIMESTAMP: WHEN,
        keys.LEVEL: "info",
        keys.LOGGER: "a",
        keys.MESSAGE: "m",
        keys.PROCESS_ID: 1,
        "x": 1,
    },
    "some context": {
        keys.TIMESTAMP: WHEN,
        keys.LEVEL: "warning",
        keys.LOGGER: "a",
        keys.MESSAGE: "m",
        keys.PROCESS_ID: 1,
        keys.CORRELATION_ID: CONTEXT[keys.CORRELATION_ID],
        keys.SERVICE_NAME: "svc",
        "x": [1, {"y": None}],
    },
    "odd field values": _record(
        none=None,
        yes=True,
        ratio=float("nan"),
        big=10**30,
        when=datetime.datetime(2024, 1, 1),
        raw=b"\xff",
        items={1, 2},
        obj=object(),
        nested={"a": {"b": [1, 2, {"c": "d"}]}},
        text="line\nbreak \u0085 \u2028 \x1b[31m",
    ),
    "odd keys": {**_record(), 3: "int key", (1, 2): "tuple key"},
    "names the presets write": _record(
        **{
            "labels.correlation_id": 1,
            "dd.service": 2,
            "severity": 3,
            "Attributes": {"x": 1},
            "Resource": 5,
            "ecs.version": 6,
            "event.dataset": 7,
            "logging.googleapis.com/labels": 8,
            "SeverityNumber": 9,
            "process.pid": 10,
            "\x00": 11,
            "\x01": 12,
            "flext.plan": 13,
            "plan": 14,
        }
    ),
    _SHARED: _record(first="same", second="same"),
    "a field holding a context value": _record(who=CONTEXT[keys.USER_ID]),
    "odd head": {
        keys.TIMESTAMP: 12,
        keys.LEVEL: 20,
        keys.LOGGER: None,
        keys.MESSAGE: {"not": "text"},
        keys.PROCESS_ID: "pid",
        **CONTEXT,
        "x": 1,
    },
    "odd context": {**_record(), keys.TRACE_ID: 5, keys.REQUEST_ID: ["a"], keys.USER_ID: None},
    "long": _record(big="x" * 70_000, other="y" * 5000, small="kept"),
    "long error": _record(level="error", error={**ERROR, keys.ERROR_MESSAGE: "e" * 80_000}),
}


def _variant(record: dict[str, Any], turn: int) -> dict[str, Any]:
    """The same keys in the same order and the same context objects, other head and call
    field values (new objects)."""
    changed: dict[Any, Any] = {}
    for key, value in record.items():
        if key in keys.CONTEXT_KEYS:
            changed[key] = value
        elif key == keys.TIMESTAMP and isinstance(value, datetime.datetime):
            changed[key] = value + datetime.timedelta(seconds=turn, microseconds=7 * turn)
        elif isinstance(value, str) and key != keys.LEVEL:
            changed[key] = f"{value}-{turn}"
        elif isinstance(value, int) and not isinstance(value, bool):
            changed[key] = value + 1000 + turn
        elif key == keys.LEVEL:
            changed[key] = ("debug", "error", "critical")[turn % 3]
        else:
            changed[key] = {"turn": turn}
    return changed


def _refused(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Variants whose head values a conversion refuses, and one object in two fields."""
    shared = "the same object"
    return [
        {**record, keys.LEVEL: 7},
        {**record, keys.TIMESTAMP: "not a time"},
        {**record, keys.PROCESS_ID: "not a number"},
        {**record, keys.MESSAGE: None},
        {key: shared if key not in keys.CONTEXT_KEYS else value for key, value in record.items()},
    ]


@pytest.mark.parametrize("schema", presets.PRESETS)
@pytest.mark.parametrize("limit", [65_536, 2048])
def test_compiled_encoders_write_the_bytes_encoding_writes(schema: str, limit: int) -> None:
    """Every record, seen once or again, with other values or refused ones: the same line."""
    renderer = SchemaRenderer(schema, max_record_bytes=limit)
    for name, record in _CORPUS.items():
        records = [record, record, *(_variant(record, turn) for turn in range(3))]
        records += [*_refused(record), _variant(record, 4), record]
        for index, each in enumerate(records):
            line = renderer(None, "info", each)
            assert line == _reference(schema, each, limit, None), (name, index)


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_a_context_value_that_only_compares_equal_is_written_as_it_is(schema: str) -> None:
    """Equal but not the same object (or claiming equality): written from the record."""
    renderer = SchemaRenderer(schema)
    record = _record(plan="pro")
    renderer(None, "info", record)
    renderer(None, "info", record)
    copies = {key: "".join(list(value)) for key, value in CONTEXT.items()}
    for other in (
        {**record, **copies},
        {**record, keys.CORRELATION_ID: _AlwaysEqual(CONTEXT[keys.CORRELATION_ID])},
        {**record, keys.SERVICE_NAME: _AlwaysEqual("user-service")},
        record,
    ):
        assert renderer(None, "info", other) == _reference(schema, other, 65_536, None)


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_many_contexts_and_record_shapes_stay_exact(schema: str) -> None:
    """More key sequences than are compiled, in 1 100 contexts: still the same lines."""
    renderer = SchemaRenderer(schema)
    for number in range(1100):
        context = {**CONTEXT, keys.CORRELATION_ID: f"{number:032x}"}
        record = {**_record(), **context, f"field_{number % 70}": number}
        for each in (record, _variant(record, number)):
            assert renderer(None, "info", each) == _reference(schema, each, 65_536, None)


@pytest.mark.parametrize(("schema", "flags"), [("gcp", "01"), ("otel", "00"), ("otel", "01")])
def test_compiled_encoders_follow_the_span_flags(schema: str, flags: str) -> None:
    """Inside a span of the record's trace and outside it: the flags as encoding gives."""
    renderer = SchemaRenderer(schema)
    record = _record(plan="pro")
    outside = renderer(None, "info", record)
    with FlextContext.Trace.span(trace_id=TRACE, flags=flags):
        inside = [renderer(None, "info", record) for _ in range(3)]
    assert outside == renderer(None, "info", record) == _reference(schema, record, 65_536, None)
    assert inside == [_reference(schema, record, 65_536, flags)] * 3


_context_changes = st.lists(
    st.tuples(
        st.integers(0, 11),
        st.sampled_from([keys.PROCESS_ID, *sorted(CONTEXT)]),
        st.sampled_from(["copy", "other", "list", "true", "float", "equal"]),
    ),
    max_size=4,
)


@pytest.mark.parametrize("schema", presets.PRESETS)
@settings(max_examples=80, deadline=None)
@given(
    fields=st.dictionaries(_names, _values, max_size=4),
    changes=_context_changes,
    flags=st.sampled_from([None, "00", "01"]),
)
def test_records_of_one_scope_write_the_bytes_encoding_writes(
    schema: str, fields: dict[str, Any], changes: list[tuple[int, str, str]], flags: str | None
) -> None:
    """Twelve records of one scope (its form is learnt on the way), some with a context
    value replaced or copied, or the scope's made a list that changes in place: each
    line is the one ``Preset.encode`` and ``dumps_record`` give."""
    for name in (*keys.RECORD_KEYS, keys.ERROR):
        fields.pop(name, None)
    renderer = SchemaRenderer(schema)
    # The scope's values, new objects; a process id of 1 equals True and 1.0.
    scope: dict[str, Any] = {keys.PROCESS_ID: 1}
    scope.update((key, "".join(list(value))) for key, value in CONTEXT.items())
    mutable: list[str] = ["a"]
    replaced = {
        "copy": lambda value: "".join(list(value)) if isinstance(value, str) else value,
        "other": lambda value: f"{value}-x",
        "list": lambda value: mutable,
        "true": lambda value: True,
        "float": lambda value: 1.0,
        "equal": _AlwaysEqual,
    }
    span = FlextContext.Trace.span(trace_id=TRACE, flags=flags) if flags else None
    with span if span is not None else contextlib.nullcontext():
        for turn in range(12):
            record = {**_variant(_record(**fields), turn), **scope}
            record = {**dict(list(record.items())[:4]), keys.PROCESS_ID: 1, **record}
            for at, key, how in changes:
                if at == turn:
                    record[key] = replaced[how](record[key])
                if at == turn and how == "list":  # from now on, in the scope
                    scope[key] = mutable
            mutable.append(str(turn))
            line = renderer(None, "info", record)
            in_span = flags and schema in {"gcp", "otel"} and record[keys.TRACE_ID] == TRACE
            used = flags if in_span else None
            assert line == _reference(schema, record, 65_536, used), turn


def _parts_cases() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("long", {"big": "x" * 70_000}),
        ("fields", {"plan": "pro", "seats": 3}),
        ("no fields", {}),
        ("odd fields", {"when": WHEN, "nested": {"a": [1]}, "none": None}),
        ("reserved", {"severity": 1, "dd.service": 2, "Attributes": 3}),
        ("shared", {"a": "same", "b": "same"}),
    ]


def _logged(call: Any) -> dict[str, Any]:
    """The record the pipeline builds for *call*(logger), as its renderers receive it."""
    captured: list[dict[str, Any]] = []

    def capture(_logger: Any, _method: str, record: dict[str, Any]) -> None:
        captured.append(dict(record))

    pipeline = _pipeline.build_pipeline(
        format="json", stream=io.StringIO(), extra_sinks=[(capture, StreamOutput(io.StringIO()))]
    )
    _pipeline.install(pipeline)
    try:
        call(get_logger("app"))
    finally:
        _pipeline.install(None)
    (record,) = captured
    return record


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_records_the_pipeline_builds_render_as_the_table_says(schema: str) -> None:
    """Records built by the pipeline's one-step path (long, empty, odd, reserved and shared
    fields), three times each so that the compiled encoders serve them: the line of
    ``Preset.encode`` and ``dumps_record``, in two scopes with their own ids."""
    renderer = SchemaRenderer(schema)
    for request in ("req-1", "req-2"):
        with (
            FlextContext.Correlation.new_correlation(),
            FlextContext.Request.request_context(user_id="u-1", request_id=request),
        ):
            for turn in range(3):
                for name, fields in _parts_cases():
                    record = _logged(lambda logger, f=fields, t=turn: logger.info(f"m{t}", **f))
                    assert record[keys.REQUEST_ID] == request
                    expected = _reference(schema, record, 65_536, None)
                    assert renderer(None, "info", record) == expected, (name, turn)


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_threads_in_their_own_scopes_get_their_own_context(schema: str) -> None:
    """Records of several threads, interleaved, under one preset: each line its own ids."""
    stream = io.StringIO()
    configure(schema=schema, stream=stream, capture_stdlib=False)
    logger = get_logger("threads")
    start = threading.Barrier(4)

    def work(number: int) -> None:
        start.wait(timeout=10)
        with FlextContext.Request.request_context(request_id=f"req-{number}"):
            for turn in range(200):
                logger.info("tick", thread=number, turn=turn)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    lines = [presets.to_flat(json.loads(line)) for line in stream.getvalue().splitlines()]
    assert len(lines) == 800
    assert all(line[keys.REQUEST_ID] == f"req-{line['thread']}" for line in lines)
    assert sorted((line["thread"], line["turn"]) for line in lines) == [
        (number, turn) for number in range(4) for turn in range(200)
    ]


def _nanoseconds(moment: datetime.datetime) -> int:
    return (moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // (
        datetime.timedelta(microseconds=1)
    ) * 1000 + 789  # a clock's nanoseconds: the record keeps its microseconds


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_a_lone_preset_output_writes_the_lines_encoding_writes(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the preset the only output, its lines are made from the record's parts and,
    after a scope's first record, from that record's encoded form: scopes of one to five
    records, nested, their context changed and fields bound on the way, their fields in
    two orders and with new names, in spans,
    errors, values a conversion or orjson refuses, a line over the size cap. Each line is the one
    ``Preset.encode`` gives for the flat record the same call makes."""
    moments = itertools.cycle(
        [
            datetime.datetime(2026, 11, 22, 8, 0, second, micro, tzinfo=datetime.timezone.utc)
            for second in range(60)
            for micro in (0, 5, 123_456, 999_999)
            for _ in range(2)  # the same for the preset's call and the flat one
        ]
    )
    monkeypatch.setattr(logger_module, "_clock", lambda _zone: next(moments))
    if presets.preset(schema).clock is not None:  # the preset's own clock: the same moments
        monkeypatch.setattr(presets.preset(schema), "clock", lambda: _nanoseconds(next(moments)))
    configure(format="json", stream=io.StringIO(), capture_stdlib=False, service_name="svc")
    flat_stream, preset_stream = io.StringIO(), io.StringIO()
    flat = _pipeline.build_pipeline(format="json", stream=flat_stream)  # nothing cut
    lone = _pipeline.build_pipeline(
        format="json", stream=preset_stream, schema=schema, max_record_bytes=4096
    )
    logger = get_logger("scopes")

    def both(call: Any) -> None:
        for pipeline in (lone, flat):
            _pipeline.install(pipeline)
            call()

    try:
        for number in range(24):
            with FlextContext.Request.request_context(request_id=f"req-{number}", user_id="u"):
                # The field names of the last record of the scope before.
                both(lambda n=number: logger.info("first", plan=f"f{n}"))
                for turn in range(number % 5 + 1):
                    if turn == 2:  # the scope's context changes on the way
                        FlextContext.Request.set_user_id(f"u-{number}")
                    if turn == 3:
                        FlextContext.bind(tenant=f"t-{number}", plan_code=number)
                    both(lambda t=turn: logger.info("plain", plan="pro", seats=t))
                    both(lambda t=turn: logger.info("reordered", seats=t, plan="pro"))
                    both(lambda t=turn: logger.warning(f"new name {t}", **{f"k{t}": t}))
                    both(lambda: logger.info("no fields"))
                both(lambda n=number: logger.info("outer", plan=f"o{n}"))
                with FlextContext.Correlation.new_correlation():  # a nested scope
                    both(lambda n=number: logger.info("nested", plan=f"p{n}"))
                    both(lambda n=number: logger.info("nested", plan=f"q{n}"))
                both(lambda n=number: logger.info("outer again", plan=f"o{n}"))
                if number % 3 == 0:
                    flags = "01" if number % 2 else "00"
                    with FlextContext.Trace.span(flags=flags):
                        both(lambda n=number, f=flags: logger.info("span", turn=n, span_flags=f))
                        both(lambda n=number, f=flags: logger.info("span", turn=n, span_flags=f))
                if number % 4 == 0:
                    both(lambda: logger.info("long", big="x" * 5000))
                    both(lambda: logger.info("odd", when=WHEN, nested={"a": [1]}, none=None))
                    for _ in range(2):  # values orjson refuses, in a scope's later record too
                        both(lambda: logger.info("refused", count=2**70, keyed={1: "a"}))
                    try:
                        raise ValueError(number)
                    except ValueError:
                        both(lambda: logger.exception("failed", step="parse"))
                both(
                    lambda: logger.info(
                        keys.EVENT_REQUEST_FINISHED, status_code=200, duration_ms=1.5
                    )
                )
                both(lambda n=number: logger.info("last", plan=f"l{n}"))
    finally:
        _pipeline.install(None)
    flat_lines = flat_stream.getvalue().splitlines()
    preset_lines = preset_stream.getvalue().splitlines()
    assert len(flat_lines) == len(preset_lines) > 300
    for flat_line, preset_line in zip(flat_lines, preset_lines, strict=True):
        record = json.loads(flat_line)
        moment = datetime.datetime.fromisoformat(record[keys.TIMESTAMP].replace("Z", "+00:00"))
        if moment.microsecond:  # a whole second is logged as its fixed-width text
            record[keys.TIMESTAMP] = moment
        flags = record.get("span_flags") if schema in {"gcp", "otel"} else None
        expected = _reference(schema, record, 4096, flags)
        assert preset_line.encode() + b"\n" == expected, record


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_a_lone_preset_output_writes_a_forked_child_s_process_id(
    schema: str, tmp_path: Path
) -> None:
    """A scope entered before a fork (a pre-forking server's worker) goes on in the child:
    the child's lines carry its own process id, not the one of the parent's lines."""
    path = tmp_path / "preset.log"
    with path.open("w") as stream:
        configure(schema=schema, stream=stream, capture_stdlib=False, service_name="svc")
        logger = get_logger("fork")
        with FlextContext.Request.request_context(request_id="req-1"):
            for turn in range(3):
                logger.info("parent", turn=turn)
            stream.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's coverage is not collected
                logger.info("child", turn=0)
                logger.info("child", turn=1)
                stream.flush()
                os._exit(0)
            os.waitpid(pid, 0)
    lines = [presets.to_flat(json.loads(line)) for line in path.read_text().splitlines()]
    assert [line[keys.MESSAGE] for line in lines] == ["parent"] * 3 + ["child"] * 2
    assert {line[keys.PROCESS_ID] for line in lines[:3]} == {os.getpid()}
    assert {line[keys.PROCESS_ID] for line in lines[3:]} == {pid}
    assert {line[keys.REQUEST_ID] for line in lines} == {"req-1"}


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_lines_logged_in_many_scopes_are_the_lines_encoding_writes(schema: str) -> None:
    """Through configure(): scopes of one to four records, nested, in spans, fields in
    any order, errors: each preset line is its flat record's, encoded anew."""
    flat, preset = io.StringIO(), io.StringIO()
    configure(
        outputs=[StreamOutput(flat), StreamOutput(preset, schema=schema)],
        capture_stdlib=False,
        service_name="svc",
    )
    logger = get_logger("scopes")
    for number in range(40):
        with FlextContext.Request.request_context(request_id=f"req-{number}", user_id="u"):
            for turn in range(number % 4 + 1):
                logger.info("plain", plan="pro", seats=turn)
                logger.info("reordered", seats=turn, plan="pro")
            if number % 5 == 0:
                flags = "01" if number % 2 else "00"
                with FlextContext.Trace.span(flags=flags):
                    logger.warning("in a span", turn=number, span_flags=flags)
                    logger.warning("in a span", turn=number + 1, span_flags=flags)
            if number % 7 == 0:
                try:
                    raise ValueError(number)
                except ValueError:
                    logger.exception("failed", step="parse")
            logger.info(keys.EVENT_REQUEST_FINISHED, status_code=200, duration_ms=1.5)
    flat_lines = flat.getvalue().splitlines()
    preset_lines = preset.getvalue().splitlines()
    assert len(flat_lines) == len(preset_lines) > 250
    for flat_line, preset_line in zip(flat_lines, preset_lines, strict=True):
        record = json.loads(flat_line)
        record[keys.TIMESTAMP] = datetime.datetime.fromisoformat(
            record[keys.TIMESTAMP].replace("Z", "+00:00")
        )
        flags = record.get("span_flags") if schema in {"gcp", "otel"} else None
        assert preset_line.encode() + b"\n" == _reference(schema, record, 65_536, flags), record


def test_a_lone_otel_output_writes_logging_records_at_their_own_time() -> None:
    """Loggers read a lone OpenTelemetry output's time as nanoseconds; a ``logging``
    record brings its own (a datetime, or text on a whole second): every line's
    ``Timestamp`` is its record's time, whichever came, in a scope's later lines too."""
    import logging

    stream = io.StringIO()
    configure(schema="otel", stream=stream, service_name="svc")
    created: list[float] = []
    library = logging.getLogger("a.library")
    library.addFilter(lambda record: created.append(record.created) or True)
    try:
        with FlextContext.Request.request_context(request_id="req-1"):
            for turn in range(3):
                library.warning("from a library %s", turn)
                get_logger("app").info("ours", turn=turn)
    finally:
        library.filters.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    library_lines = [line for line in lines if line["InstrumentationScope"]["Name"] == "a.library"]
    assert len(library_lines) == 3
    for line, moment in zip(library_lines, created, strict=True):
        expected = datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)
        assert line["Timestamp"] == f"{_nanoseconds(expected) // 1000}000"
    ours = [line for line in lines if line["InstrumentationScope"]["Name"] == "app"]
    assert len(ours) == 3
    assert all(line["Timestamp"].endswith("000") for line in ours)
    assert [int(line["Timestamp"]) for line in lines] == sorted(
        int(line["Timestamp"]) for line in lines
    )
