"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_servers import billing_app, serve_asgi


@pytest.fixture(scope="module")
def billing_url() -> Iterator[str]:
    """Service B: the billing app on uvicorn, shared by the HTTP client tests."""
    with serve_asgi(billing_app()) as url:
        yield url
