"""The framework-free header logic: reading ids, W3C trace context, cleaning values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flext_logging import FlextContext, keys
from flext_logging.context import TraceSpan
from flext_logging.context.trace import (
    TraceParent,
    format_traceparent,
    is_valid_tracestate,
    parse_traceparent,
)
from flext_logging.integrations import _headers
from flext_logging.testing import capture_logs

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


def test_valid_traceparent_is_parsed_into_its_fields() -> None:
    """A version-00 traceparent yields its trace id, parent span id and flags."""
    assert parse_traceparent(VALID) == TraceParent(TRACE_ID, SPAN_ID, "01")


def test_later_traceparent_version_may_carry_more_fields() -> None:
    """A future version is read by its first four fields, as the W3C rules require."""
    parsed = parse_traceparent(f"01-{TRACE_ID}-{SPAN_ID}-00-extra")
    assert parsed == TraceParent(TRACE_ID, SPAN_ID, "00")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        VALID.upper(),
        f"00-{'0' * 32}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}1-01",
        f"00-{TRACE_ID}-{SPAN_ID}-1",
        f"00-{TRACE_ID}-{SPAN_ID}-0g",
        f"00-{TRACE_ID}-{SPAN_ID}-01\r\nX-Evil: 1",
        f"01-{TRACE_ID}-{SPAN_ID}-01extra",
        "00-" + "a" * 10_000,
        f"00_{TRACE_ID}_{SPAN_ID}_01",
    ],
)
def test_malformed_traceparent_is_rejected(value: str) -> None:
    """Upper case, all-zero ids, version ff, wrong lengths and junk all parse to None."""
    assert parse_traceparent(value) is None


def test_traceparent_is_generated_from_a_span() -> None:
    """The generated header names the span as parent and parses back to it."""
    header = format_traceparent(TraceSpan(TRACE_ID, SPAN_ID, None, "01"))
    assert header == VALID
    assert parse_traceparent(header) == TraceParent(TRACE_ID, SPAN_ID, "01")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("congo=t61rcWkgMzE", True),
        ("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", True),
        ("tenant@vendor=value, other=1", True),
        ("", False),
        ("no-equals-sign", False),
        ("UPPER=1", False),
        ("k=v\r\nX-Evil: 1", False),
        ("k=" + "v" * 600, False),
        (",".join(f"k{i}=v" for i in range(33)), False),
    ],
)
def test_tracestate_grammar_is_checked(value: str, valid: bool) -> None:
    """tracestate is kept only when every member is key=value within the W3C limits."""
    assert is_valid_tracestate(value) is valid


def test_inbound_ids_are_read_in_any_letter_case() -> None:
    """Header names match whatever their case; the first occurrence of a name wins."""
    inbound = _headers.read_inbound(
        [
            ("x-REQUEST-id", "req-1"),
            ("X-Request-Id", "req-2"),
            ("X-CORRELATION-ID", "corr-1"),
            ("x-parent-correlation-id", "parent-1"),
            ("TraceParent", VALID),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("X-Service-Name", "checkout"),
        ]
    )
    assert inbound.request_id == "req-1"
    assert inbound.correlation_id == "corr-1"
    assert inbound.parent_correlation_id == "parent-1"
    assert inbound.trace == TraceParent(TRACE_ID, SPAN_ID, "01")
    assert inbound.tracestate == "congo=t61rcWkgMzE"
    assert inbound.caller_service == "checkout"
    assert inbound.rejected == ()


def test_custom_header_names_are_read() -> None:
    """The request and correlation header names can be changed."""
    inbound = _headers.read_inbound(
        [("X-Amzn-Request-Id", "aws-1"), ("X-Request-Id", "ignored")],
        request_id_header="X-Amzn-Request-Id",
    )
    assert inbound.request_id == "aws-1"


def test_invalid_values_are_rejected_with_a_reason() -> None:
    """Bad ids and a bad traceparent are not kept; each is listed as rejected."""
    inbound = _headers.read_inbound(
        [
            ("X-Request-Id", "bad id\r\n"),
            ("X-Correlation-Id", "x" * 10_000),
            ("traceparent", "00-nope"),
            ("tracestate", "congo=t61rcWkgMzE"),
        ]
    )
    assert inbound.request_id is None
    assert inbound.correlation_id is None
    assert inbound.trace is None
    assert inbound.tracestate is None  # ignored without a valid traceparent
    assert [field for field, _, _ in inbound.rejected] == [
        keys.CORRELATION_ID,
        keys.REQUEST_ID,
        keys.HEADER_TRACEPARENT,
    ]
    assert inbound.rejected_ids


def test_rejected_values_are_reported_with_a_bounded_preview() -> None:
    """Each rejected value gets one warning whose preview is short and escaped."""
    inbound = _headers.read_inbound([("X-Request-Id", "évil\r\n" + "x" * 10_000)])
    with capture_logs() as records:
        _headers.report_rejected(inbound)
    (warning,) = records
    assert warning["message"] == keys.EVENT_INVALID_ID_DROPPED
    assert warning["level"] == "warning"
    assert warning["field"] == keys.REQUEST_ID
    assert warning["source"] == "inbound"
    assert len(warning["value_preview"]) <= 48
    assert warning["value_preview"].isascii()
    assert "\r" not in warning["value_preview"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nb\x00c\x1b[31m\u2028d", "abc[31md"),
        ("x" * 20, "xxxxxxx..."),
    ],
)
def test_clean_text_strips_control_characters_and_bounds_length(value: str, expected: str) -> None:
    """Control characters go, and a long value is cut with a marker."""
    assert _headers.clean_text(value, 10) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://user:pw@api.example.com:8443/v1/x?token=s#frag",
            "https://api.example.com:8443/v1/x",
        ),
        ("http://127.0.0.1/items?id=1", "http://127.0.0.1/items"),
        ("http://[::1]:8080/p?q", "http://[::1]:8080/p"),
    ],
)
def test_url_loses_user_info_query_and_fragment(url: str, expected: str) -> None:
    """Logged URLs never carry credentials or query parameters."""
    assert _headers.url_without_secrets(url) == expected


@pytest.mark.parametrize(
    ("status", "level"), [(200, "info"), (302, "info"), (404, "warning"), (503, "error")]
)
def test_level_follows_the_status_class(status: int, level: str) -> None:
    """5xx is an error, 4xx a warning, anything else info."""
    assert _headers.level_for_status(status) == level


def test_outbound_headers_carry_context_and_traceparent() -> None:
    """The headers for a callee hold the correlation headers and the span's traceparent."""
    with (
        FlextContext.Correlation.new_correlation() as correlation_id,
        FlextContext.Trace.span(tracestate="congo=1") as span,
    ):
        headers = _headers.outbound_headers(span)
    assert headers[keys.HEADER_CORRELATION_ID] == correlation_id
    assert headers[keys.HEADER_TRACEPARENT] == f"00-{span.trace_id}-{span.span_id}-01"
    assert headers[keys.HEADER_TRACESTATE] == "congo=1"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_importing_the_package_loads_no_integration_or_framework() -> None:
    """``import flext_logging`` pulls in no integration module and no web library."""
    completed = _run(
        "import sys, flext_logging\n"
        "loaded = [m for m in sys.modules if m.startswith('flext_logging.integrations')"
        " or m.split('.')[0] in ('httpx', 'requests', 'fastapi', 'starlette', 'flask')]\n"
        "print(loaded)"
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize(("module", "extra"), [("httpx", "httpx"), ("requests", "requests")])
def test_missing_client_library_fails_with_an_install_hint(module: str, extra: str) -> None:
    """Without its library, an integration says which extra to install."""
    completed = _run(
        f"import sys; sys.modules[{module!r}] = None\nimport flext_logging.integrations.{module}"
    )
    assert completed.returncode == 1
    assert f"pip install flext-logging[{extra}]" in completed.stderr
