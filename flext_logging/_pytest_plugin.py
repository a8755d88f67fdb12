"""The pytest plugin of flext-logging: the ``flext_logs`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flext_logging.context import FlextContext
from flext_logging.testing import capture_logs

__all__ = ["flext_logs"]


@pytest.fixture
def flext_logs() -> Iterator[list[dict[str, Any]]]:
    """Yield the records logged during the test; the context is cleared around it."""
    FlextContext.Utilities.clear_context()
    with capture_logs() as records:
        yield records
    FlextContext.Utilities.clear_context()
