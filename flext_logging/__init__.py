"""flext-logging: every log record carries the context of the work it belongs to.

from flext_logging import configure, get_logger, FlextContext

logger = get_logger(__name__)
configure(service_name="user-service", service_version="1.4.0")
"""

from __future__ import annotations

from flext_logging._config import configure
from flext_logging._pipeline import shutdown
from flext_logging.concurrency import ContextThreadPoolExecutor
from flext_logging.context import FlextContext
from flext_logging.exceptions import FlextExceptions
from flext_logging.logger import FlextLogger, get_logger
from flext_logging.result import FlextResult
from flext_logging.stdlib import ContextFilter, JsonFormatter

__version__ = "0.1.0"

__all__ = [
    "ContextFilter",
    "ContextThreadPoolExecutor",
    "FlextContext",
    "FlextExceptions",
    "FlextLogger",
    "FlextResult",
    "JsonFormatter",
    "__version__",
    "configure",
    "get_logger",
    "shutdown",
]
