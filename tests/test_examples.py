"""The example programs, the uvicorn log config and the README's quick start work as documented."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripts import EXAMPLES, ROOT, run_python

from flext_logging import FlextContext, keys

README = ROOT / "README.md"
HEAD = [*keys.HEAD_KEYS, keys.PROCESS_ID]


def _run_python(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_python(*args, cwd=cwd, env={"NO_COLOR": "1"})


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_quickstart_prints_json_lines_then_console_lines() -> None:
    """The quick start exits 0, writing the workload as schema JSON lines and then for people."""
    completed = _run_python(str(EXAMPLES / "quickstart.py"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    json_part, console_part = completed.stdout.split("== Console: configure(format='console') ==")
    assert json_part.splitlines()[0] == "== JSON lines: configure(format='json') =="
    records = _records("\n".join(json_part.splitlines()[1:]))
    assert [r["message"] for r in records] == [
        "order received",
        "operation_finished",
        "provider slow, retry 1 of 3",
        "coupon rejected",
        "order placed",
    ]
    for record in records:
        assert list(record)[: len(HEAD)] == HEAD
        assert record["request_id"] == "req-1001"
        assert record["service_name"] == "shop"
    received, finished, foreign, rejected, _ = records
    assert finished["operation"] == "reserve_stock"
    assert finished["duration_ms"] > 0
    assert finished["metadata"] == {"warehouse": "eu-west-1"}
    assert foreign["logger"] == "payments.client"
    assert foreign["parent_correlation_id"] == received["correlation_id"]
    assert foreign["correlation_id"] != received["correlation_id"]
    assert rejected["correlation_id"] == received["correlation_id"]
    assert rejected["error"]["code"] == "FLEXT_NOT_FOUND_ERROR"
    assert rejected["error"]["context"] == {"resource_id": "SPRING24", "resource_type": "coupon"}
    console_lines = console_part.strip().splitlines()
    assert not any(line.startswith("{") for line in console_lines)
    assert re.match(
        r"\d\d:\d\d:\d\d\.\d{3} info +shop order received +"
        r"order_id=1002 items=3  \[shop.checkout\]",
        console_lines[0],
    )
    assert "req=req-1002" in console_lines[0]
    assert "NotFoundError: coupon not found" in console_lines
    assert "order placed" in console_lines[-1]


def test_dictconfig_example_writes_schema_without_configure() -> None:
    """The dictConfig example writes schema JSON to stdout and filter attributes to stderr."""
    completed = _run_python(str(EXAMPLES / "dictconfig.py"))
    assert completed.returncode == 0, completed.stderr
    started, accepted, failed = _records(completed.stdout)
    assert list(started) == [*HEAD]
    assert started["message"] == "service started"
    assert list(accepted) == [*HEAD, "correlation_id", "request_id", "user_id", "items", "api_key"]
    assert accepted["message"] == "order o-311 accepted"
    assert accepted["api_key"] == "[REDACTED]"
    assert failed["level"] == "error"
    assert failed["correlation_id"] == accepted["correlation_id"]
    assert failed["error"]["code"] == "FLEXT_CONNECTION_ERROR"
    text = completed.stderr.splitlines()
    assert text[0] == "INFO     orders.api [None None] service started"
    assert text[1] == (
        f"INFO     orders.api [{accepted['correlation_id']} req-42] order o-311 accepted"
    )


@pytest.fixture
def uvicorn_loggers() -> Iterator[None]:
    """Put the uvicorn loggers back as they were after a test configures them."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    yield
    for name, (handlers, level, propagate, disabled) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


@pytest.mark.usefixtures("uvicorn_loggers")
def test_uvicorn_log_config_writes_uvicorn_records_in_the_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Loaded with dictConfig, the uvicorn config writes uvicorn's records once, as schema JSON."""
    config = json.loads((EXAMPLES / "uvicorn_log_config.json").read_text(encoding="utf-8"))
    logging.config.dictConfig(config)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 4242)
    with (
        FlextContext.Correlation.new_correlation() as correlation_id,
        FlextContext.Request.request_context(request_id="req-9"),
    ):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50312", "GET", "/orders", "1.1", 200
        )
        logging.getLogger("orders.api").warning("slow query")
    started, access, application = _records(capsys.readouterr().out)
    assert started == {
        "timestamp": started["timestamp"],
        "level": "info",
        "logger": "uvicorn.error",
        "message": "Started server process [4242]",
        "process_id": os.getpid(),
    }
    assert list(access) == [*HEAD, "correlation_id", "request_id"]
    assert access["message"] == '127.0.0.1:50312 - "GET /orders HTTP/1.1" 200'
    assert access["correlation_id"] == correlation_id
    assert access["request_id"] == "req-9"
    assert application["logger"] == "orders.api"
    assert application["correlation_id"] == correlation_id


def test_readme_quick_start_writes_the_line_the_readme_shows(tmp_path: Path) -> None:
    """The README's quick start, run as written, starts with a line shaped like its example."""
    quick_start = _readme_section("Quick start")
    code = re.search(r"```python\n(.*?)```", quick_start, flags=re.DOTALL)
    assert code is not None
    sample = re.search(r"```json\n(.*?)\n```", _readme_section("One JSON line"), flags=re.DOTALL)
    assert sample is not None
    shown = json.loads(sample.group(1))
    script = tmp_path / "quick_start.py"
    script.write_text(code.group(1), encoding="utf-8")
    completed = _run_python(str(script), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    records = _records(completed.stdout)
    assert len(records) == 4
    first = records[0]
    assert list(first) == list(shown)
    varying = {"timestamp", "correlation_id", "process_id"}
    assert {k: v for k, v in first.items() if k not in varying} == {
        k: v for k, v in shown.items() if k not in varying
    }
    assert [r["message"] for r in records[1:]] == [
        "operation_finished",
        "card retried 2 times",
        "connection pool is full",
    ]
    assert records[2]["provider"] == "acme-pay"
    assert records[3]["logger"] == "urllib3.connectionpool"
    assert {r["correlation_id"] for r in records} == {first["correlation_id"]}


def test_readme_schema_table_lists_the_record_keys_in_order() -> None:
    """The README's schema table names every head and context key of keys.py, in order."""
    table = _readme_section("The record schema")
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert documented == list(keys.RECORD_KEYS)
