"""flext-logging: every log record carries the context of the work it belongs to.

from flext_logging import configure, get_logger, FlextContext

logger = get_logger(__name__)
configure(service_name="user-service", service_version="1.4.0")

The names below are imported on first use, so that ``import flext_logging.keys`` and the
``flext-logging`` command start without loading structlog and the logging pipeline.
Whichever is asked for first, the pipeline is loaded with it: it registers the context
layer's hooks, so a program that only uses ``FlextContext`` still gets the records of
its dropped ids and finished operations.
"""

from __future__ import annotations

import importlib

# Not typing's TYPE_CHECKING: typing costs some 10 ms to import (with the re, enum and
# functools it loads), and `flext-logging trace` starts its search before anything it
# does not need is imported (mypy takes any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from flext_logging._config import configure
    from flext_logging._pipeline import shutdown
    from flext_logging.concurrency import ContextThreadPoolExecutor
    from flext_logging.context import FlextContext
    from flext_logging.exceptions import FlextExceptions
    from flext_logging.logger import FlextLogger, get_logger
    from flext_logging.outputs import FileOutput, LoggingOutput, StreamOutput
    from flext_logging.result import FlextResult
    from flext_logging.stdlib import ContextFilter, JsonFormatter

__version__ = "0.1.0"

_HOMES: Final = {
    "ContextFilter": "flext_logging.stdlib",
    "ContextThreadPoolExecutor": "flext_logging.concurrency",
    "FileOutput": "flext_logging.outputs",
    "FlextContext": "flext_logging.context",
    "FlextExceptions": "flext_logging.exceptions",
    "FlextLogger": "flext_logging.logger",
    "FlextResult": "flext_logging.result",
    "JsonFormatter": "flext_logging.stdlib",
    "LoggingOutput": "flext_logging.outputs",
    "StreamOutput": "flext_logging.outputs",
    "configure": "flext_logging._config",
    "get_logger": "flext_logging.logger",
    "shutdown": "flext_logging._pipeline",
}
"""Each public name and the module it is defined in."""

__all__ = [
    "ContextFilter",
    "ContextThreadPoolExecutor",
    "FileOutput",
    "FlextContext",
    "FlextExceptions",
    "FlextLogger",
    "FlextResult",
    "JsonFormatter",
    "LoggingOutput",
    "StreamOutput",
    "__version__",
    "configure",
    "get_logger",
    "shutdown",
]


def __getattr__(name: str) -> object:
    """Import a public name from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'flext_logging' has no attribute {name!r}")
    importlib.import_module("flext_logging._pipeline")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
