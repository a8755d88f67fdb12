"""Shared fixtures: every test starts from the default configuration and an empty context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from demo_run import DemoRun, run_demo

from flext_logging import FlextContext, FlextExceptions, _config


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset configuration, context, error metrics and the root logger around each test."""
    for name in (
        "FLEXT_LOG_FORMAT",
        "FLEXT_LOG_LEVEL",
        "FLEXT_LOG_LEVELS",
        "FLEXT_SERVICE_NAME",
        "FLEXT_SERVICE_VERSION",
        "FLEXT_ENVIRONMENT",
        "FLEXT_CORRELATION_ID",
        "FLEXT_REQUEST_ID",
        "FLEXT_USER_ID",
        "FLEXT_OPERATION_NAME",
        "FLEXT_LOG_SCHEMA",
        "GOOGLE_CLOUD_PROJECT",
        "NO_COLOR",
        "FORCE_COLOR",
    ):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    _config.reset()
    FlextContext.Utilities.clear_context()
    FlextExceptions.clear_metrics()
    yield
    _config.reset()
    FlextContext.Utilities.clear_context()
    FlextExceptions.clear_metrics()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def json_stream() -> tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]:
    """A stream to configure() with, and a function returning its lines parsed as JSON."""
    stream = io.StringIO()

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    return stream, records


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The multi-service demo, run once per test session into a fresh directory."""
    return run_demo(tmp_path_factory.mktemp("demo"))
