"""JsonFormatter as a drop-in for python-json-logger: its own test suite, then option by option."""

from __future__ import annotations

import datetime
import inspect
import io
import json
import logging
import logging.config
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pythonjsonlogger.core import RESERVED_ATTRS
from scripts import ROOT, clean_environment

from flext_logging import FlextContext, JsonFormatter, configure, keys, stdlib
from flext_logging.processors import REDACTED

PJL_VERSION = "4.2.0"
PJL_CACHE = ROOT / ".cache" / "python-json-logger"
PJL_TESTS = ("tests/test_formatters.py", "tests/test_dictconfig.py")
PJL_TEST_COUNT = 72
"""Tests those two files hold on Python 3.11+ once only our class is parametrized."""
STDLIB_DOC = ROOT / "docs" / "stdlib.md"
HEAD = [*keys.HEAD_KEYS, keys.PROCESS_ID]
"""The keys every record starts with."""
DIFFERENCES_HEADING = "### Where python-json-logger's own tests differ"

# Put in front of python-json-logger's tests: the class under test becomes ours, nothing
# else of theirs changes. Each test's outcome is written to a JSON file, keyed by test
# name and, for the value-encoding cases, by the kind of value, which is stabler than
# pytest's generated ids.
SWAP_CONFTEST = """
import enum, json, os
import pytest
import pythonjsonlogger, pythonjsonlogger.json
from flext_logging import JsonFormatter

pythonjsonlogger.json.JsonFormatter = JsonFormatter
# The suite parametrizes over every formatter class it finds installed: only ours.
pythonjsonlogger.ORJSON_AVAILABLE = False
pythonjsonlogger.MSGSPEC_AVAILABLE = False

OUTCOMES = {}


def _kind(value):
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, type):
        return f"class {value.__name__}"
    return type(value).__name__


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or report.outcome != "passed":
        name = item.originalname
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "obj" in params:
            name = f"{name}[{_kind(params['obj'])}]"
        OUTCOMES.setdefault(name, []).append(report.outcome)
    return report


def pytest_sessionfinish(session):
    with open(os.environ["PJL_OUTCOMES"], "w", encoding="utf-8") as out:
        json.dump(OUTCOMES, out)
"""


def _pjl_sdist() -> Path:
    """python-json-logger's sdist, downloaded with pip once into .cache/ (git-ignored)."""
    existing = sorted(PJL_CACHE.glob(f"python_json_logger-{PJL_VERSION}.tar.gz"))
    if existing:
        return existing[0]
    PJL_CACHE.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--dest", str(PJL_CACHE), f"python-json-logger=={PJL_VERSION}"]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=180, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"python-json-logger {PJL_VERSION} sdist could not be fetched: {exc}")
    found = sorted(PJL_CACHE.glob(f"python_json_logger-{PJL_VERSION}.tar.gz"))
    if completed.returncode != 0 or not found:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        pytest.skip(f"python-json-logger {PJL_VERSION} sdist could not be fetched: {tail}")
    return found[0]


def _documented_differences() -> dict[str, str]:
    """The tests docs/stdlib.md says fail on purpose, with the reason it gives."""
    section = STDLIB_DOC.read_text(encoding="utf-8").split(DIFFERENCES_HEADING, 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    return dict(re.findall(r"^\| `(test_[^`]+)` \| (.+?) \|$", section, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def pjl_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run python-json-logger's formatter tests with its JsonFormatter swapped for ours."""
    sdist = _pjl_sdist()
    work = tmp_path_factory.mktemp("pjl")
    prefix = f"python_json_logger-{PJL_VERSION}/tests/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix) and m.isfile()]
        for member in members:
            target = work / "tests" / member.name.removeprefix(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    (work / "conftest.py").write_text(SWAP_CONFTEST, encoding="utf-8")
    (work / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # their rootdir, not ours
    outcomes_file = work / "outcomes.json"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PJL_TESTS],
        cwd=work,
        env={**clean_environment(), "PJL_OUTCOMES": str(outcomes_file)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert outcomes_file.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    outcomes: dict[str, list[str]] = json.loads(outcomes_file.read_text(encoding="utf-8"))
    return outcomes


def test_python_json_logger_suite_fails_only_where_docs_say_why(
    pjl_outcomes: dict[str, list[str]],
) -> None:
    """pjl 4.2.0's tests pass against our class except the differences docs/stdlib.md lists."""
    documented = _documented_differences()
    failed = {name for name, results in pjl_outcomes.items() if "passed" not in results}
    mixed = {name for name, results in pjl_outcomes.items() if len(set(results)) > 1}
    assert sum(len(results) for results in pjl_outcomes.values()) == PJL_TEST_COUNT
    assert mixed == set()
    assert sorted(failed - documented.keys()) == [], "failures docs/stdlib.md does not explain"
    assert sorted(documented.keys() - failed) == [], "documented differences that now pass"


def test_python_json_logger_suite_runs_every_test_it_has(
    pjl_outcomes: dict[str, list[str]],
) -> None:
    """No test of theirs is skipped or errors out: each one passed or failed an assertion."""
    results: set[str] = {result for outcomes in pjl_outcomes.values() for result in outcomes}
    assert results <= {"passed", "failed"}


# -- Option by option --------------------------------------------------------------------------

Records = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def app_logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logging logger of the application, not propagating, emptied after the test."""
    logger = logging.getLogger(f"tests.json_formatter.{request.node.name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _attach(logger: logging.Logger, formatter: logging.Formatter) -> tuple[io.StringIO, Records]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger.addHandler(handler)

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    return stream, records


def _one(logger: logging.Logger, formatter: logging.Formatter, **call: Any) -> dict[str, Any]:
    """Log one INFO record 'hello' through *formatter*; return it parsed."""
    _, records = _attach(logger, formatter)
    logger.info(call.pop("msg", "hello"), **call)
    (record,) = records()
    return record


class Point:
    """A value JSON has no encoding for."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


def encode_point(value: object) -> object:
    """A json_default in python-json-logger's style: handles Point, rejects the rest."""
    if isinstance(value, Point):
        return {"x": value.x, "y": value.y}
    raise TypeError(type(value).__name__)


class PointEncoder(json.JSONEncoder):
    """A json_encoder in python-json-logger's style."""

    def default(self, o: object) -> object:
        if isinstance(o, Point):
            return [o.x, o.y]
        return super().default(o)


def _pjl_keywords() -> list[str]:
    from pythonjsonlogger.core import BaseJsonFormatter
    from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter

    names: dict[str, None] = {}
    for cls in (BaseJsonFormatter, PjlJsonFormatter):
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                names[name] = None
    names.pop("self")
    return list(names)


PJL_OPTION_VALUES: dict[str, Any] = {
    "fmt": "%(message)s %(lineno)d",
    "datefmt": "%H:%M",
    "style": "%",
    "validate": False,
    "prefix": "",
    "rename_fields": {"lineno": "line"},
    "rename_fields_keep_missing": True,
    "static_fields": {"app": "shop"},
    "reserved_attrs": list(RESERVED_ATTRS),
    "timestamp": True,
    "defaults": {"zone": "eu"},
    "exc_info_as_array": False,
    "stack_info_as_array": True,
    "json_default": encode_point,
    "json_encoder": PointEncoder,
    "json_serializer": json.dumps,
    "json_indent": None,
    "json_ensure_ascii": True,
}


def test_every_python_json_logger_option_is_accepted(app_logger: logging.Logger) -> None:
    """Each keyword of pjl's JsonFormatter builds our formatter, which then writes a record."""
    keywords = _pjl_keywords()
    assert set(keywords) == set(PJL_OPTION_VALUES)  # a new pjl option gets a line here
    for keyword in keywords:
        formatter = JsonFormatter(**{keyword: PJL_OPTION_VALUES[keyword]})
        line = formatter.format(logging.LogRecord("x", logging.INFO, __file__, 7, "hi", (), None))
        assert json.loads(line)[keys.LEVEL] == "info", keyword


@pytest.mark.parametrize(
    "options",
    [{"json_ensure_ascii": False}, {"json_encoder": "ext://json.JSONEncoder"}, {"json_indent": 2}],
    ids=["json_ensure_ascii", "json_encoder", "json_indent"],
)
def test_dict_config_with_json_options_starts(
    app_logger: logging.Logger, capsys: pytest.CaptureFixture[str], options: dict[str, Any]
) -> None:
    """Options that used to stop dictConfig (and so uvicorn) at start-up configure it now."""
    _dict_config(app_logger, {"()": "flext_logging.JsonFormatter", **options})
    app_logger.warning("started")
    assert json.loads(capsys.readouterr().out)[keys.MESSAGE] == "started"


def _dict_config(logger: logging.Logger, formatter: dict[str, Any]) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": formatter},
            "handlers": {
                "stdout": {
                    "class": "logging.StreamHandler",
                    "stream": "ext://sys.stdout",
                    "formatter": "json",
                }
            },
            "loggers": {
                logger.name: {"handlers": ["stdout"], "level": "DEBUG", "propagate": False}
            },
        }
    )


def test_the_common_format_string_writes_the_head_once(app_logger: logging.Logger) -> None:
    """'%(asctime)s %(levelname)s %(name)s %(message)s' gives the head: no null, no duplicate."""
    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    record = _one(app_logger, formatter)
    assert list(record) == HEAD
    assert record[keys.LOGGER] == app_logger.name
    assert None not in record.values()


def test_format_fields_follow_the_context_in_format_order(app_logger: logging.Logger) -> None:
    """Record attributes the format names are written after the context, as the format orders."""
    formatter = JsonFormatter("%(levelname)s %(lineno)d %(funcName)s %(message)s %(process)d")
    FlextContext.Request.set_request_id("r-1")
    record = _one(app_logger, formatter, extra={"order": 7})
    assert list(record) == [
        *HEAD,
        keys.REQUEST_ID,
        "lineno",
        "funcName",
        "process",
        "order",
    ]
    assert record["funcName"] == "_one"
    assert record["process"] == os.getpid()


def test_a_format_field_the_record_lacks_is_left_out(app_logger: logging.Logger) -> None:
    """A name in the format that the record does not have is not written as null."""
    record = _one(app_logger, JsonFormatter("%(unknown_key)s %(message)s"))
    assert list(record) == HEAD


def test_datefmt_formats_asctime_beside_the_timestamp(app_logger: logging.Logger) -> None:
    """With %(asctime)s and datefmt, asctime is the record time formatted as datefmt says."""
    formatter = JsonFormatter("%(asctime)s %(message)s", datefmt="%Y/%m/%d %H:%M:%S")
    _, records = _attach(app_logger, formatter)
    app_logger.info("hello")
    (record,) = records()
    created = datetime.datetime.fromisoformat(record[keys.TIMESTAMP].replace("Z", "+00:00"))
    local = time.localtime(created.timestamp())
    assert record["asctime"] == time.strftime("%Y/%m/%d %H:%M:%S", local)
    assert list(record) == [*HEAD, "asctime"]


@pytest.mark.parametrize(
    ("rename_fields", "expected_keys"),
    [
        (
            {"message": "@message"},
            [keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, "@message", keys.PROCESS_ID],
        ),
        (
            {"levelname": "severity"},
            [keys.TIMESTAMP, "severity", keys.LOGGER, keys.MESSAGE, keys.PROCESS_ID],
        ),
        (
            {"level": "severity"},
            [keys.TIMESTAMP, "severity", keys.LOGGER, keys.MESSAGE, keys.PROCESS_ID],
        ),
        ({"levelname": "level"}, HEAD),
        ({"name": "logger"}, HEAD),
        (
            {"asctime": "@timestamp"},
            ["@timestamp", keys.LEVEL, keys.LOGGER, keys.MESSAGE, keys.PROCESS_ID],
        ),
        ({"order": "order_id"}, [*HEAD, "order_id"]),
        ({"order": "message"}, [*HEAD, "message_field"]),
    ],
    ids=[
        "message",
        "levelname",
        "level",
        "levelname-to-ours",
        "name-to-ours",
        "asctime",
        "extra",
        "onto-the-head",
    ],
)
def test_rename_fields_renames_head_and_fields_in_place(
    app_logger: logging.Logger, rename_fields: dict[str, str], expected_keys: list[str]
) -> None:
    """rename_fields reaches the head too, in its place, with values and no stray keys."""
    formatter = JsonFormatter("%(levelname)s %(message)s", rename_fields=rename_fields)
    record = _one(app_logger, formatter, extra={"order": 7})
    assert [key for key in record if key != "order"] == [k for k in expected_keys if k != "order"]
    assert None not in record.values()
    assert "hello" in record.values()


def test_rename_runs_after_redaction(app_logger: logging.Logger) -> None:
    """A secret field renamed by rename_fields is still redacted."""
    formatter = JsonFormatter(rename_fields={"password": "pw"})
    record = _one(app_logger, formatter, extra={"password": "hunter2"})
    assert record["pw"] == REDACTED


@pytest.mark.parametrize(
    ("timestamp", "name"), [(True, keys.TIMESTAMP), ("ts", "ts"), ("@timestamp", "@timestamp")]
)
def test_timestamp_option_names_the_one_timestamp(
    app_logger: logging.Logger, timestamp: bool | str, name: str
) -> None:
    """timestamp=True adds nothing; timestamp='ts' writes the head timestamp as 'ts', once."""
    record = _one(app_logger, JsonFormatter(timestamp=timestamp))
    assert list(record) == [name, keys.LEVEL, keys.LOGGER, keys.MESSAGE, keys.PROCESS_ID]
    assert record[name].endswith("Z")


@pytest.mark.parametrize(
    "options",
    [{"json_default": encode_point}, {"json_encoder": PointEncoder}],
    ids=["json_default", "json_encoder"],
)
def test_custom_encoders_encode_their_types(
    app_logger: logging.Logger, options: dict[str, Any]
) -> None:
    """json_default / json_encoder encode their types; what they reject is still written."""
    formatter = JsonFormatter(**options)
    record = _one(app_logger, formatter, extra={"where": Point(1, 2), "other": {3j}})
    assert record["where"] in ({"x": 1, "y": 2}, [1, 2])
    assert record["other"] == ["3j"]


def test_json_default_from_dict_config_ext_reference(
    app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """dictConfig's 'ext://module.function' json_default is the one used."""
    _dict_config(
        app_logger,
        {
            "()": "flext_logging.JsonFormatter",
            "json_default": "ext://test_json_formatter.encode_point",
        },
    )
    app_logger.info("placed", extra={"where": Point(3, 4)})
    assert json.loads(capsys.readouterr().out)["where"] == {"x": 3, "y": 4}


@pytest.mark.parametrize(("indent", "prefix"), [(4, "    "), ("\t", "\t"), (True, "  ")])
def test_json_indent_indents(
    app_logger: logging.Logger, indent: int | str | bool, prefix: str
) -> None:
    """json_indent indents as json.dumps does (True: two spaces)."""
    stream, _ = _attach(app_logger, JsonFormatter(json_indent=indent))
    app_logger.info("hello")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "{"
    assert lines[1] == f'{prefix}"timestamp": ' + lines[1].split(": ", 1)[1]
    assert json.loads(stream.getvalue())[keys.MESSAGE] == "hello"


@pytest.mark.parametrize(
    ("ensure_ascii", "expected"),
    [(True, '"message":"\\u041f\\u0440\\u0438 \\ud83d\\ude00"'), (False, '"message":"При 😀"')],
)
def test_json_ensure_ascii(app_logger: logging.Logger, ensure_ascii: bool, expected: str) -> None:
    """json_ensure_ascii=True escapes every non-ASCII character; False keeps UTF-8."""
    stream, records = _attach(app_logger, JsonFormatter(json_ensure_ascii=ensure_ascii))
    app_logger.info("При 😀")
    assert expected in stream.getvalue()
    assert records()[0][keys.MESSAGE] == "При 😀"


def test_json_serializer_and_exc_info_as_array_warn_once(app_logger: logging.Logger) -> None:
    """Options our schema overrides say so in one warning each, and the record is written."""
    stdlib._warned.clear()
    with pytest.warns(UserWarning, match="json_serializer is not used"):
        JsonFormatter(json_serializer=lambda *a, **k: "")
    with pytest.warns(UserWarning, match="exc_info_as_array=True has no effect"):
        formatter = JsonFormatter(exc_info_as_array=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        JsonFormatter(exc_info_as_array=True)  # once per process
    try:
        raise ValueError("bad")
    except ValueError:
        _, records = _attach(app_logger, formatter)
        app_logger.exception("failed")
    assert records()[0][keys.ERROR][keys.ERROR_TYPE_NAME] == "ValueError"


def test_stack_info_as_array_writes_the_stack_as_lines(app_logger: logging.Logger) -> None:
    """stack_info_as_array=True writes 'stack' as a list of lines."""
    record = _one(app_logger, JsonFormatter(stack_info_as_array=True), stack_info=True)
    assert record[keys.STACK][0] == "Stack (most recent call last):"
    assert all(isinstance(line, str) for line in record[keys.STACK])


def test_exc_info_renamed_renames_the_error(app_logger: logging.Logger) -> None:
    """rename_fields={'exc_info': ...} renames the error object; without an error, nothing."""
    formatter = JsonFormatter("%(exc_info)s", rename_fields={"exc_info": "exception"})
    _, records = _attach(app_logger, formatter)
    app_logger.info("fine")
    try:
        raise KeyError("sku")
    except KeyError:
        app_logger.exception("failed")
    fine, failed = records()
    assert list(fine) == HEAD
    assert failed["exception"][keys.ERROR_TYPE_NAME] == "KeyError"
    assert keys.ERROR not in failed


def test_exception_fields_in_the_format_are_the_error(app_logger: logging.Logger) -> None:
    """%(exc_info)s %(exc_text)s %(stack_info)s write error and stack: no tuple repr, no null."""
    formatter = JsonFormatter("%(message)s %(exc_info)s %(exc_text)s %(stack_info)s")
    _, records = _attach(app_logger, formatter)
    app_logger.info("fine")
    try:
        raise KeyError("sku")
    except KeyError:
        app_logger.exception("failed", stack_info=True)
    fine, failed = records()
    assert list(fine) == HEAD
    assert sorted(failed) == sorted([*HEAD, keys.ERROR, keys.STACK])
    assert failed[keys.ERROR][keys.ERROR_MESSAGE] == "'sku'"


def test_a_record_with_only_exception_text_keeps_it(app_logger: logging.Logger) -> None:
    """A record carrying only exc_text (sent by another process) writes it as error.traceback."""
    record = logging.makeLogRecord(
        {"name": "remote", "msg": "failed", "levelno": logging.ERROR, "levelname": "ERROR"}
    )
    record.exc_text = 'Traceback (most recent call last):\n  File "x.py"\nValueError: bad'
    formatted = json.loads(JsonFormatter().format(record))
    assert formatted[keys.ERROR] == {keys.ERROR_TRACEBACK: record.exc_text}


def test_a_dict_message_is_merged_into_the_fields(app_logger: logging.Logger) -> None:
    """logger.info({...}) writes the dict's entries as fields, its 'message' as the message."""
    formatter = JsonFormatter(defaults={"zone": "eu", "order": 0})
    _, records = _attach(app_logger, formatter)
    message = {"order": 7, 5: "five", "nested": {"a": 1}, "message": "placed"}
    app_logger.info(message)
    app_logger.info({"order": 8})
    placed, bare = records()
    assert placed == {
        **{key: placed[key] for key in HEAD},
        keys.MESSAGE: "placed",
        "zone": "eu",
        "order": 7,
        "5": "five",
        "nested": {"a": 1},
    }
    assert list(placed)[:5] == HEAD
    assert bare[keys.MESSAGE] == ""
    assert bare["order"] == 8
    assert message == {"order": 7, 5: "five", "nested": {"a": 1}, "message": "placed"}


def test_fields_named_like_the_head_are_kept_beside_it(app_logger: logging.Logger) -> None:
    """extra=, static_fields and dict messages named like head keys become '<key>_field'."""
    formatter = JsonFormatter(static_fields={"message": "static"}, defaults={"level": "low"})
    _, records = _attach(app_logger, formatter)
    app_logger.warning("real", extra={"timestamp": "then", "logger": "other", "event": "signup"})
    app_logger.warning({"level": "dict", "exc_info": "text", "stack_info": "text"})
    extra, from_dict = records()
    assert extra[keys.LEVEL] == "warning"
    assert extra[keys.MESSAGE] == "real"
    assert extra[keys.LOGGER] == app_logger.name
    assert extra[keys.TIMESTAMP].endswith("Z")
    fields = {key: value for key, value in extra.items() if key not in HEAD}
    assert fields == {
        "level_field": "low",
        "message_field": "static",
        "timestamp_field": "then",
        "logger_field": "other",
        "event_field": "signup",
    }
    assert from_dict["level_field"] == "dict"
    assert from_dict["exc_info_field"] == "text"
    assert from_dict["stack_info_field"] == "text"
    assert keys.STACK not in from_dict


def test_routed_records_apply_the_same_collision_rule() -> None:
    """Records routed through configure() keep head-named extra fields the same way."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    logging.getLogger("lib.collide").warning(
        "real", extra={"timestamp": "then", "logger": "other", "level": "x"}
    )
    logging.getLogger("lib.collide").warning({"message": "from dict", "n": 1})
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first[keys.LOGGER] == "lib.collide"
    assert [first[k] for k in ("timestamp_field", "logger_field", "level_field")] == [
        "then",
        "other",
        "x",
    ]
    assert second[keys.MESSAGE] == "from dict"
    assert second["n"] == 1


def test_subclass_hooks_see_the_schema(app_logger: logging.Logger) -> None:
    """add_fields and process_log_record overrides work as python-json-logger documents them."""

    class Custom(JsonFormatter):
        def add_fields(
            self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
        ) -> None:
            super().add_fields(log_data, record, message_dict)
            log_data["module_name"] = record.module

        def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
            log_data["severity"] = log_data[keys.LEVEL].upper()
            return log_data

    record = _one(app_logger, Custom())
    assert record["module_name"] == "test_json_formatter"
    assert record["severity"] == "INFO"


def test_exception_notes_reach_the_error(app_logger: logging.Logger) -> None:
    """Notes added with add_note() are written under error.notes, in order."""
    error = ValueError("bad input")
    error.__notes__ = ["row 7", "column b"]  # add_note() on 3.11+, the same attribute
    try:
        raise error
    except ValueError:
        _, records = _attach(app_logger, JsonFormatter())
        app_logger.exception("failed")
    (record,) = records()
    assert record[keys.ERROR][keys.ERROR_MESSAGE] == "bad input"
    assert record[keys.ERROR][keys.ERROR_NOTES] == ["row 7", "column b"]


def test_an_exception_value_is_written_unquoted(app_logger: logging.Logger) -> None:
    """An exception passed as a field value reads 'Type: text', as logging shows it."""
    record = _one(app_logger, JsonFormatter(), extra={"cause": Exception("Foo occurred")})
    assert record["cause"] == "Exception: Foo occurred"


# -- Where users meet it: dictConfig and uvicorn --log-config -----------------------------------


def _documented_example() -> tuple[dict[str, Any], dict[str, Any]]:
    """The formatter config and the line docs/stdlib.md shows for a pjl-style setup."""
    section = STDLIB_DOC.read_text(encoding="utf-8").split("## Coming from python-json-logger")[1]
    config, line = re.findall(r"```json\n(.*?)\n```", section, flags=re.DOTALL)[:2]
    formatter = json.loads("{" + config + "}")["formatters"]["json"]
    return formatter, json.loads(line)


def test_the_documented_pjl_style_config_writes_the_documented_line(
    app_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/stdlib.md's python-json-logger config, through dictConfig, writes its line."""
    formatter, shown = _documented_example()
    formatter["json_default"] = "ext://test_json_formatter.encode_point"
    _dict_config(app_logger, formatter)
    with FlextContext.Request.request_context(request_id="req-7f3a"):
        app_logger.info("order placed")
    record = json.loads(capsys.readouterr().out)
    assert list(record) == list(shown)
    assert record["severity"] == shown["severity"]
    assert record["region"] == shown["region"]
    assert record["funcName"] == "test_the_documented_pjl_style_config_writes_the_documented_line"


UVICORN_APP = """
import logging

from flext_logging import FlextContext

log = logging.getLogger("shop.orders")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    with FlextContext.Request.request_context(request_id="req-uv"):
        log.info({"message": "order placed", "order": 7}, extra={"password": "hunter2"})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""

UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "flext_logging.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "severity"},
            "static_fields": {"service": "shop"},
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            "timestamp": "ts",
            "json_encoder": "ext://json.JSONEncoder",
            "json_ensure_ascii": True,
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"level": "INFO"},
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
}


def test_uvicorn_log_config_with_pjl_options_starts_and_writes_the_schema(
    tmp_path: Path,
) -> None:
    """A real uvicorn, started with a pjl-style --log-config, logs its records in our schema."""
    (tmp_path / "pjl_app.py").write_text(UVICORN_APP, encoding="utf-8")
    config = tmp_path / "log_config.json"
    config.write_text(json.dumps(UVICORN_LOG_CONFIG), encoding="utf-8")
    command = [sys.executable, "-m", "uvicorn", "pjl_app:app", "--host", "127.0.0.1"]
    command += ["--port", "0", "--log-config", str(config), "--lifespan", "off"]
    lines: list[str] = []
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**clean_environment(), "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        reader = threading.Thread(target=lambda: lines.extend(server.stdout or ()), daemon=True)
        reader.start()
        try:
            running = _wait_for_line(lines, "Uvicorn running on", server)
            found = re.search(r":(\d+) ", json.loads(running)[keys.MESSAGE])
            assert found is not None
            url = f"http://127.0.0.1:{found.group(1)}/orders"
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.read() == b"ok"
            _wait_for_line(lines, '"uvicorn.access"', server)
        finally:
            server.terminate()  # by its pid; uvicorn shuts down on SIGTERM
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=20)
            reader.join(10)  # the pipe is at its end: every line is in
            stderr = server.stderr.read() if server.stderr else ""
    records = [json.loads(line) for line in lines]  # every line on stdout is one JSON object
    assert "Traceback" not in stderr
    for record in records:
        assert list(record)[:4] == ["ts", "severity", keys.LOGGER, keys.MESSAGE]
        assert record["service"] == "shop"
        assert keys.LEVEL not in record
        assert "color_message" not in record
    order = next(r for r in records if r[keys.LOGGER] == "shop.orders")
    assert order[keys.MESSAGE] == "order placed"
    assert order[keys.REQUEST_ID] == "req-uv"
    assert order["order"] == 7
    assert order["password"] == REDACTED
    access = next(r for r in records if r[keys.LOGGER] == "uvicorn.access")
    assert '"GET /orders HTTP/1.1" 200' in access[keys.MESSAGE]


def _wait_for_line(lines: list[str], text: str, server: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in list(lines):
            if text in line:
                return line
        if server.poll() is not None:
            break
        time.sleep(0.02)
    pytest.fail(f"uvicorn wrote no line with {text!r}: {lines}")


def test_a_json_default_that_is_not_callable_is_refused() -> None:
    """json_default given as an unresolved string fails at configuration, saying why."""
    with pytest.raises(TypeError, match="json_default must be a callable, not str"):
        JsonFormatter(json_default="ext://myapp.encode")  # type: ignore[arg-type]  # the error under test


def test_an_encoder_that_cannot_be_built_is_reported_and_skipped(
    app_logger: logging.Logger,
) -> None:
    """A json_encoder class that fails to instantiate warns once; records are still written."""

    class NeedsArguments(json.JSONEncoder):
        def __init__(self, required: int) -> None:
            super().__init__()

    stdlib._warned.clear()
    with pytest.warns(UserWarning, match="json_encoder could not be instantiated"):
        formatter = JsonFormatter(json_encoder=NeedsArguments)
    assert _one(app_logger, formatter, extra={"p": Point(1, 2)})["p"].startswith("<")


def test_rename_fields_keep_missing_writes_null_for_absent_renames(
    app_logger: logging.Logger,
) -> None:
    """rename_fields_keep_missing=True writes a renamed field the record lacks as null."""
    formatter = JsonFormatter(
        rename_fields={"missing": "gone", "order": "order_id"}, rename_fields_keep_missing=True
    )
    record = _one(app_logger, formatter, extra={"order": 1})
    assert record["gone"] is None
    assert record["order_id"] == 1


def test_asctime_with_datefmt_is_renamed_as_its_own_field(app_logger: logging.Logger) -> None:
    """With datefmt, rename_fields on asctime renames that field and leaves the timestamp."""
    formatter = JsonFormatter(
        "%(asctime)s %(message)s", datefmt="%H:%M", rename_fields={"asctime": "clock"}
    )
    record = _one(app_logger, formatter)
    assert list(record) == [*HEAD, "clock"]
    assert re.fullmatch(r"\d\d:\d\d", record["clock"])


@pytest.mark.parametrize("options", [{"json_indent": 2}, {"json_ensure_ascii": True}, {}])
def test_odd_text_keeps_the_record_in_every_encoding(
    app_logger: logging.Logger, options: dict[str, Any]
) -> None:
    """A lone surrogate or a line separator in a value never loses or breaks the record."""
    stream, _ = _attach(app_logger, JsonFormatter(**options))
    app_logger.info("odd", extra={"half": "\ud800", "breaks": "a\u2028b\x85c"})
    text = stream.getvalue()
    assert "\u2028" not in text
    assert "\x85" not in text
    record = json.loads(text)
    assert record["half"] == "\ud800"
    assert record["breaks"] == "a\u2028b\x85c"


def test_reserved_attrs_decides_which_record_attributes_are_written(
    app_logger: logging.Logger,
) -> None:
    """An attribute taken out of reserved_attrs is written; one the head holds is not repeated."""
    reserved = [name for name in RESERVED_ATTRS if name not in ("funcName", "levelname")]
    record = _one(app_logger, JsonFormatter(reserved_attrs=reserved), extra={"order": 1})
    assert list(record) == [*HEAD, "funcName", "order"]
    assert record["funcName"] == "_one"
