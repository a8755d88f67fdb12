"""Fuzzing: inbound context, redaction and rendering never raise and always give one JSON line."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flext_logging import FlextContext, configure, get_logger, keys
from flext_logging.context import is_valid_id
from flext_logging.redaction import Redactor
from flext_logging.renderers import JSONRenderer, LogfmtRenderer, dumps_record
from flext_logging.testing import capture_logs

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text biased towards what breaks lines and parsers: controls, separators, surrogates.
text = st.text(
    alphabet=st.one_of(
        st.characters(codec=None),
        st.sampled_from(["\n", "\r", "\x00", "\x85", "\u2028", "\u2029", '"', "\\", "="]),
    ),
    max_size=40,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.binary(max_size=20),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(text, st.integers()), children, max_size=4),
    ),
    max_leaves=20,
)
header_names = st.one_of(
    st.sampled_from(
        [*keys.HEADERS.values(), *keys.CONTEXT_KEYS, "x-request-id", "X-CORRELATION-ID", "metadata"]
    ),
    text,
)


@FUZZ
@given(st.dictionaries(header_names, values, max_size=8))
def test_set_from_context_and_context_from_accept_any_mapping(mapping: dict[Any, Any]) -> None:
    """Any mapping adopts only valid ids, never raises, and restores the outer context."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    FlextContext.Utilities.clear_context()
    with FlextContext.Serialization.context_from(mapping) as adopted:
        for key, value in adopted.items():
            if key in (keys.CORRELATION_ID, keys.REQUEST_ID):
                assert is_valid_id(value)
        get_logger("fuzz").info("inside")
    assert FlextContext.Serialization.get_full_context() == {}
    adopted = FlextContext.Serialization.set_from_context(mapping)
    get_logger("fuzz").info("after")
    FlextContext.Utilities.clear_context()
    lines = stream.getvalue().splitlines()
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict)


@FUZZ
@given(st.dictionaries(text, values, max_size=6), text)
def test_logging_any_values_gives_exactly_one_json_line(
    fields: dict[str, Any], message: str
) -> None:
    """Any message and fields, through the whole default pipeline, make one valid JSON line.

    (A field named like a context key with an unusable value adds its report's line.)
    """
    stream = io.StringIO()
    configure(format="json", stream=stream, max_record_bytes=2048)
    get_logger("fuzz").info(message, extra=fields)
    output = stream.getvalue()
    assert output.endswith("\n")
    lines = [line for line in output.splitlines() if '"logger":"flext_logging.context"' not in line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record[keys.LOGGER] == "fuzz"
    assert len(lines[0].encode("utf-8", "surrogatepass")) < 2048


@FUZZ
@given(values)
def test_redactor_never_raises_and_keeps_the_shape(value: Any) -> None:
    """The redactor keeps the kind of value, or gives the text written for it when redacted."""
    out = Redactor(redact_patterns=[r"\d{3}"])(None, "info", {keys.MESSAGE: "m", "v": value})
    assert type(out["v"]) in (type(value), str)
    dumps_record(out)


@FUZZ
@given(st.dictionaries(text, values, max_size=6))
def test_renderers_give_one_line_for_any_record(record: dict[str, Any]) -> None:
    """The JSON and logfmt renderers produce one line for any record, capped or not."""
    for limit in (None, 1024):
        line = JSONRenderer(max_record_bytes=limit)(None, "info", dict(record))
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert isinstance(json.loads(line), dict)
        assert (
            len(LogfmtRenderer(max_record_bytes=limit)(None, "info", dict(record)).splitlines())
            == 1
        )


@FUZZ
@given(st.dictionaries(text, values, max_size=4))
def test_capture_logs_sees_any_fields(fields: dict[str, Any]) -> None:
    """capture_logs() collects exactly one record for one call, whatever its fields.

    (A field named like a context id with an unusable value adds its own report.)
    """
    with capture_logs() as records:
        get_logger("fuzz").warning("captured", extra=fields)
    assert len([record for record in records if record["logger"] == "fuzz"]) == 1


try:
    from flext_logging.context.trace import parse_traceparent
except ImportError:  # pragma: no cover - the web integration is not there yet
    parse_traceparent = None  # type: ignore[assignment]


if parse_traceparent is not None:

    @FUZZ
    @given(
        st.one_of(
            text,
            st.from_regex(r"[0-9a-fA-F]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}.{0,8}"),
        )
    )
    def test_parse_traceparent_accepts_or_rejects_any_text(value: str) -> None:
        """Any header text parses to valid ids or to None; it never raises."""
        parsed = parse_traceparent(value)
        if parsed is not None:
            assert len(parsed.trace_id) == 32
            assert len(parsed.parent_span_id) == 16
