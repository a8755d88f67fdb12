"""structlog code beside flext-logging, with the real structlog: processors, loggers, capture."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
import structlog.testing

from flext_logging import FlextContext, configure, get_logger, keys
from flext_logging.testing import capture_logs

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]
TOKEN = "abcdefghijklmnop0123456789"


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Every test starts and ends with structlog unconfigured and no contextvars bound."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _raise() -> None:
    raise ValueError("bad input")


# -- User processors run before redaction -----------------------------------------------------


def _add_secrets(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["api_token"] = "abc123secret"
    event_dict["note"] = f"called with Bearer {TOKEN}"
    return event_dict


def test_what_a_user_processor_adds_is_redacted(json_stream: JsonStream) -> None:
    """A processor that adds a secret key and a bearer token: neither reaches the line."""
    stream, records = json_stream
    configure(
        format="json",
        stream=stream,
        processors=[structlog.contextvars.merge_contextvars, _add_secrets],
    )
    get_logger("tests.structlog").info("charged")
    (record,) = records()
    assert record["api_token"] == "[REDACTED]"
    assert TOKEN not in stream.getvalue()
    assert "abc123secret" not in stream.getvalue()


# -- structlog's stock processors work or are refused at configure() --------------------------


def test_event_renamer_keeps_the_record_and_its_context(json_stream: JsonStream) -> None:
    """EventRenamer("msg") writes the message as msg; head, context and fields stay."""
    stream, records = json_stream
    configure(
        format="json",
        stream=stream,
        service_name="svc",
        processors=[structlog.processors.EventRenamer("msg")],
    )
    with FlextContext.Request.request_context(request_id="req-1"):
        get_logger("tests.structlog").info("renamed", plan="pro")
    (record,) = records()
    assert record["msg"] == "renamed"
    assert keys.MESSAGE not in record
    assert keys.LOGGING_ERROR not in record
    assert (record[keys.REQUEST_ID], record[keys.SERVICE_NAME], record["plan"]) == (
        "req-1",
        "svc",
        "pro",
    )


def test_format_exc_info_writes_structlogs_exception_text(json_stream: JsonStream) -> None:
    """format_exc_info sees exc_info as in structlog and writes its traceback text."""
    stream, records = json_stream
    configure(format="json", stream=stream, processors=[structlog.processors.format_exc_info])
    try:
        _raise()
    except ValueError:
        get_logger("tests.structlog").exception("failed")
    (record,) = records()
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad input" in record["exception"]
    assert keys.ERROR not in record


@pytest.mark.parametrize(
    "processor",
    [
        structlog.processors.dict_tracebacks,
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        ),
    ],
    ids=["dict_tracebacks", "ExceptionRenderer"],
)
def test_structlogs_exception_dicts_are_written(json_stream: JsonStream, processor: Any) -> None:
    """dict_tracebacks and ExceptionRenderer(ExceptionDictTransformer) write their data."""
    stream, records = json_stream
    configure(format="json", stream=stream, processors=[processor])
    try:
        _raise()
    except ValueError as exc:
        get_logger("tests.structlog").error("failed", exc_info=exc)
    (record,) = records()
    (exception,) = record["exception"]
    assert (exception["exc_type"], exception["exc_value"]) == ("ValueError", "bad input")


def test_callsite_parameters_name_the_application_call(json_stream: JsonStream) -> None:
    """CallsiteParameterAdder reports the test's line and function, not a library frame."""
    stream, records = json_stream
    parameters = structlog.processors.CallsiteParameter
    configure(
        format="json",
        stream=stream,
        processors=[
            structlog.processors.CallsiteParameterAdder(
                [parameters.FILENAME, parameters.FUNC_NAME, parameters.LINENO]
            )
        ],
    )
    line = sys._getframe().f_lineno + 1
    get_logger("tests.structlog").info("where")
    logging.getLogger("tests.structlog.stdlib").warning("where, from logging")
    ours, foreign = records()
    for record, lineno in ((ours, line), (foreign, line + 1)):
        assert record["filename"] == "test_structlog_bridge.py"
        assert record["func_name"] == "test_callsite_parameters_name_the_application_call"
        assert record["lineno"] == lineno


def test_stack_info_renderer_starts_at_the_application(json_stream: JsonStream) -> None:
    """StackInfoRenderer's stack ends at the caller, without this library's frames."""
    stream, records = json_stream
    configure(format="json", stream=stream, processors=[structlog.processors.StackInfoRenderer()])
    get_logger("tests.structlog").info("stack", stack_info=True)
    (record,) = records()
    assert "test_stack_info_renderer_starts_at_the_application" in record["stack"]
    assert "flext_logging" not in record["stack"]


@pytest.mark.parametrize(
    "renderer",
    [
        structlog.processors.JSONRenderer(),
        structlog.processors.KeyValueRenderer(),
        structlog.processors.LogfmtRenderer(),
        structlog.dev.ConsoleRenderer(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    ids=["JSONRenderer", "KeyValueRenderer", "LogfmtRenderer", "ConsoleRenderer", "wrap"],
)
def test_a_renderer_in_processors_is_refused_at_configure(renderer: Any) -> None:
    """A copied chain ending in a renderer fails at configure() and says what to do."""
    before = io.StringIO()
    configure(format="json", stream=before)
    chain = [structlog.processors.add_log_level, renderer]
    with pytest.raises(ValueError, match="renders every record itself") as raised:
        configure(format="json", stream=io.StringIO(), processors=chain)
    assert "Remove" in str(raised.value)
    get_logger("tests.structlog").info("still configured")
    assert json.loads(before.getvalue())[keys.MESSAGE] == "still configured"


def _renders(logger: Any, method_name: str, event_dict: dict[str, Any]) -> str:
    return json.dumps(event_dict, default=str)


def test_a_processor_returning_text_gives_an_error_that_says_what_to_do(
    json_stream: JsonStream, capfd: pytest.CaptureFixture[str]
) -> None:
    """A home-made renderer: one minimal record naming the mistake, not a double-encoded line."""
    stream, records = json_stream
    configure(format="json", stream=stream, processors=[_renders])
    get_logger("tests.structlog").info("rendered twice")
    (record,) = records()
    assert record[keys.MESSAGE] == "rendered twice"
    assert "returned str" in record[keys.LOGGING_ERROR]
    assert "Remove renderers from processors=" in record[keys.LOGGING_ERROR]
    assert "returned str" in capfd.readouterr().err


def test_stdlib_processors_of_a_structlog_chain_work(json_stream: JsonStream) -> None:
    """add_log_level, add_logger_name and TimeStamper keep the head's keys and order."""
    stream, records = json_stream
    configure(
        format="json",
        stream=stream,
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
    )
    get_logger("tests.structlog").warning("shaped", n=1)
    (record,) = records()
    assert list(record) == [*keys.HEAD_KEYS, keys.PROCESS_ID, "n"]
    assert (record[keys.LEVEL], record[keys.LOGGER]) == ("warning", "tests.structlog")


# -- structlog.get_logger() elsewhere in the application --------------------------------------


def test_structlog_loggers_write_our_schema_with_our_context(json_stream: JsonStream) -> None:
    """After configure(), structlog.get_logger() records have our head, context, redaction."""
    stream, records = json_stream
    configure(format="json", stream=stream, service_name="svc")
    named = structlog.get_logger("legacy.billing")
    unnamed = structlog.get_logger()
    with FlextContext.Request.request_context(request_id="req-1"):
        named.info("charged", amount=5, password="p")
        unnamed.bind(step=2).warning("from the module")
    charged, moduled = records()
    assert list(charged) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.REQUEST_ID,
        keys.SERVICE_NAME,
        "amount",
        "password",
    ]
    assert (charged[keys.LOGGER], charged[keys.MESSAGE], charged["password"]) == (
        "legacy.billing",
        "charged",
        "[REDACTED]",
    )
    assert moduled[keys.LOGGER] == __name__
    assert (moduled[keys.LEVEL], moduled["step"]) == ("warning", 2)


def test_capture_structlog_false_leaves_structlog_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """configure(capture_structlog=False) keeps structlog's own configuration and output."""
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    configure(format="json", stream=io.StringIO(), capture_structlog=False)
    structlog.get_logger().info("own", n=1)
    assert json.loads(capsys.readouterr().out) == {"n": 1, "event": "own"}


def test_reset_gives_structlog_its_configuration_back(capsys: pytest.CaptureFixture[str]) -> None:
    """reset() restores what structlog was configured with before configure()."""
    from flext_logging import _config

    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )
    configure(format="json", stream=io.StringIO())
    _config.reset()
    structlog.get_logger().info("own", n=1)
    assert capsys.readouterr().out == "n=1 event='own'\n"


def test_records_made_for_processor_formatter_come_out_in_our_schema(
    json_stream: JsonStream,
) -> None:
    """structlog configured by the app with wrap_for_formatter: FlextHandler reads its dict."""
    stream, records = json_stream
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    configure(format="json", stream=stream, capture_structlog=False, service_name="svc")
    with FlextContext.Request.request_context(user_id="u1"):
        structlog.get_logger("legacy.orders").info("placed", order_id=7, token="t")
    (record,) = records()
    assert list(record) == [
        *keys.HEAD_KEYS,
        keys.PROCESS_ID,
        keys.SERVICE_NAME,
        keys.USER_ID,
        "order_id",
        "token",
    ]
    assert (record[keys.MESSAGE], record[keys.LEVEL], record[keys.LOGGER]) == (
        "placed",
        "info",
        "legacy.orders",
    )
    assert record["token"] == "[REDACTED]"


# -- structlog's context-local values ----------------------------------------------------------


def test_bound_contextvars_are_merged_after_our_context_and_redacted(
    json_stream: JsonStream,
) -> None:
    """bind_contextvars()/bound_contextvars() values follow our context keys, redacted."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    structlog.contextvars.bind_contextvars(tenant="t1", password="p")
    with (
        FlextContext.Request.request_context(request_id="ours"),
        structlog.contextvars.bound_contextvars(order_id=7, request_id="theirs"),
    ):
        get_logger("tests.structlog").info("inside", plan="pro")
    get_logger("tests.structlog").info("outside")
    inside, outside = records()
    assert list(inside)[5:] == [keys.REQUEST_ID, "tenant", "password", "order_id", "plan"]
    assert inside[keys.REQUEST_ID] == "ours"
    assert (inside["tenant"], inside["password"], inside["order_id"]) == ("t1", "[REDACTED]", 7)
    assert "order_id" not in outside
    assert outside["tenant"] == "t1"


def test_values_bound_in_a_context_reach_the_contexts_copied_from_it_only(
    json_stream: JsonStream,
) -> None:
    """A task or thread started after the bind sees its values; a context made before it,
    or beside it, sees none; a thread that binds its own has them in its records."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    log = get_logger("app")

    def request() -> None:
        before = contextvars.copy_context()
        structlog.contextvars.bind_contextvars(tenant="t-1")
        contextvars.copy_context().run(log.info, "copied after")
        before.run(log.info, "copied before")

        def worker() -> None:
            log.info("thread, nothing bound")
            structlog.contextvars.bind_contextvars(job="j-1")
            log.info("thread, bound")

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        log.info("request")

    contextvars.Context().run(request)
    contextvars.Context().run(log.info, "another request")
    seen = {record[keys.MESSAGE]: {"tenant", "job"} & set(record) for record in records()}
    assert seen == {
        "copied after": {"tenant"},
        "copied before": set(),
        "thread, nothing bound": set(),
        "thread, bound": {"job"},
        "request": {"tenant"},
        "another request": set(),
    }


def test_values_bound_before_flext_logging_was_imported_are_merged() -> None:
    """structlog bound first, flext-logging imported after: the bound values still join."""
    program = (
        "import structlog.contextvars\n"
        "structlog.contextvars.bind_contextvars(tenant='t-1')\n"
        "from flext_logging import configure, get_logger\n"
        "configure(format='json')\n"
        "get_logger('app').info('m')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout)["tenant"] == "t-1"


def test_a_replaced_structlog_registry_is_watched_again_by_configure(
    json_stream: JsonStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """structlog's registry replaced (a reload, a test fixture): configure() watches the
    new one, so values bound through it are merged."""
    monkeypatch.setattr(structlog.contextvars, "_CONTEXT_VARS", {})
    stream, records = json_stream
    configure(format="json", stream=stream)

    def bound() -> None:
        structlog.contextvars.bind_contextvars(tenant_after_replace="t-1")
        get_logger("app").info("m")

    contextvars.Context().run(bound)
    assert records()[0]["tenant_after_replace"] == "t-1"


def test_a_structlog_contextvar_named_like_a_context_id_is_validated(
    json_stream: JsonStream,
) -> None:
    """bind_contextvars(request_id=...) fills our request_id only with a valid id."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        get_logger("tests.structlog").info("valid")
    with structlog.contextvars.bound_contextvars(request_id="not an id"):
        get_logger("tests.structlog").info("invalid")
    valid, dropped, invalid = records()
    assert valid[keys.REQUEST_ID] == "r-1"
    assert dropped["field"] == keys.REQUEST_ID
    assert keys.REQUEST_ID not in invalid


# -- Tests: each capture sees the other's records ---------------------------------------------


def test_structlog_capture_logs_sees_our_records_after_configure() -> None:
    """structlog.testing.capture_logs() gets get_logger() and structlog loggers' calls."""
    output = io.StringIO()
    configure(format="json", stream=output)
    with structlog.testing.capture_logs() as captured:
        get_logger("tests.structlog").info("ours", plan="pro")
        structlog.get_logger("legacy").warning("theirs")
    assert captured == [
        {"event": "ours", "plan": "pro", "log_level": "info"},
        {"event": "theirs", "log_level": "warning"},
    ]
    assert output.getvalue() == ""
    get_logger("tests.structlog").info("after")
    assert json.loads(output.getvalue())[keys.MESSAGE] == "after"


def test_our_capture_logs_sees_structlog_records_without_configure() -> None:
    """flext_logging.testing.capture_logs() collects structlog.get_logger() records too."""
    with capture_logs() as records:
        structlog.get_logger("legacy").info("theirs", n=1)
    (record,) = records
    assert (record[keys.LOGGER], record[keys.MESSAGE], record["n"]) == ("legacy", "theirs", 1)
    assert not structlog.is_configured()


def test_json_formatter_understands_processor_formatter_records() -> None:
    """The stdlib JsonFormatter (no configure()) writes wrap_for_formatter records as fields."""
    from flext_logging import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    legacy = logging.getLogger("tests.structlog.formatter")
    legacy.addHandler(handler)
    legacy.setLevel(logging.INFO)
    legacy.propagate = False
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    try:
        structlog.get_logger(legacy.name).info("placed", order_id=7)
    finally:
        legacy.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert list(record) == [*keys.HEAD_KEYS, keys.PROCESS_ID, "order_id"]
    assert (record[keys.MESSAGE], record[keys.LEVEL]) == ("placed", "info")


def test_structlog_contextvars_reach_every_record_as_they_are_bound_and_unbound(
    json_stream: JsonStream,
) -> None:
    """Names bound with structlog.contextvars join our loggers' records from the next
    record on, also a name structlog never saw before records were written; unbound,
    they leave; a context where none is set gets none of another context's."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    log = get_logger("app")
    log.info("before")
    structlog.contextvars.bind_contextvars(tenant_first_seen_here="t-1")
    log.info("bound")
    structlog.contextvars.bind_contextvars(region_first_seen_here="eu")
    log.info("two bound")
    elsewhere = contextvars.Context()
    elsewhere.run(log.info, "other context")
    structlog.contextvars.unbind_contextvars("tenant_first_seen_here", "region_first_seen_here")
    log.info("unbound")
    extra = {"tenant_first_seen_here", "region_first_seen_here"}
    seen = {record[keys.MESSAGE]: extra & set(record) for record in records()}
    assert seen == {
        "before": set(),
        "bound": {"tenant_first_seen_here"},
        "two bound": extra,
        "other context": set(),
        "unbound": set(),
    }
