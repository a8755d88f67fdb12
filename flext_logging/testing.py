"""Helpers for testing code that logs: capture the processed records as dicts.

``capture_logs()`` works anywhere; under pytest the ``flext_logs`` fixture (registered
by the package's ``pytest11`` entry point) does the same and also clears the
FlextContext before and after each test that uses it. pytest's own ``caplog`` sees the
records of ``get_logger()`` loggers too, their fields as attributes;
:func:`record_fields` returns all of them as one dict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flext_logging import _pipeline, settings, stdlib, structlog_bridge
from flext_logging.outputs.handoff import record_fields

__all__ = ["capture_logs", "record_fields"]


class _Collector:
    """A renderer that keeps records instead of writing them."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> None:
        self.records.append(event_dict)


@contextmanager
def capture_logs(level: int | str = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """Collect every record made in the block, processed but not rendered.

    Records of ``get_logger()`` loggers, of ``structlog.get_logger()`` loggers (made in
    the block or cached while structlog was routed here) and of the ``logging`` module
    are collected, as dicts in schema order (``timestamp`` is a ``datetime``, errors
    are data under ``error``). The configuration in force before the block is
    restored after it.
    """
    previous = _pipeline.active()
    collector = _Collector()
    template = _pipeline.build_pipeline(format="json", log_operations=previous.log_operations)
    min_level = settings.level_number(level)
    _pipeline.install(template.with_sinks([(collector, template.sinks[0][1])], min_level=min_level))
    root = logging.getLogger()
    root_level = root.level
    # One bridge handler is enough: configure() may have installed it already.
    routed = any(isinstance(handler, stdlib.FlextHandler) for handler in root.handlers)
    added = None if routed else stdlib.FlextHandler()
    if added is not None:
        root.addHandler(added)
    root.setLevel(min_level)
    try:
        with structlog_bridge.routed_structlog():
            yield collector.records
    finally:
        if added is not None:
            root.removeHandler(added)
        root.setLevel(root_level)
        _pipeline.install(previous)
