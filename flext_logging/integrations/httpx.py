"""httpx: carry the context to every service an ``httpx.Client`` or ``AsyncClient`` calls.

::

    from flext_logging.integrations.httpx import propagate

    client = propagate(httpx.Client(base_url="http://billing"))
    async with propagate(httpx.AsyncClient()) as client:
        await client.get("http://billing/invoices")

Needs the ``httpx`` extra: ``pip install flext-logging[httpx]``.
"""

from __future__ import annotations

from typing import Any, TypeVar

try:
    import httpx
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "flext_logging.integrations.httpx needs httpx: pip install flext-logging[httpx]"
    ) from error

from flext_logging.integrations._client import outgoing_call
from flext_logging.logger import get_logger

__all__ = ["propagate"]

_logger = get_logger(__name__)

ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


class _PropagatingTransport(httpx.BaseTransport):
    """Wrap a transport: each exchange gets a child span, the context headers and a record."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* with the context headers; log the outcome."""
        with outgoing_call(
            _logger, request.method, str(request.url), lambda: request.headers
        ) as call:
            call.inject(request.headers)
            response = self._transport.handle_request(request)
            call.status_code = response.status_code
            return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


class _AsyncPropagatingTransport(httpx.AsyncBaseTransport):
    """The ``AsyncClient`` counterpart of :class:`_PropagatingTransport`."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* with the context headers; log the outcome."""
        with outgoing_call(
            _logger, request.method, str(request.url), lambda: request.headers
        ) as call:
            call.inject(request.headers)
            response = await self._transport.handle_async_request(request)
            call.status_code = response.status_code
            return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()


def propagate(client: ClientT) -> ClientT:
    """Make *client* send the current context with every request, and return it.

    Every request (each redirect hop too) runs in a child span of the current one:
    it carries ``X-Correlation-Id``, ``X-Request-Id`` and the other context headers,
    and a ``traceparent`` naming that span, and is logged as
    ``http_request_finished`` or ``http_request_failed``. Headers the caller set
    on a request are kept. Calling it twice on a client changes nothing more.
    """
    # httpx has no public way to wrap the transports of an existing client; these two
    # attributes have been where it keeps them since httpx 0.18. One wrapper class per
    # client kind; Any because the sync and async transports share no base type.
    wrapper: Any = (
        _AsyncPropagatingTransport
        if isinstance(client, httpx.AsyncClient)
        else _PropagatingTransport
    )
    if not isinstance(client._transport, wrapper):
        client._transport = wrapper(client._transport)
    client._mounts = {
        pattern: wrapper(transport)
        if transport is not None and not isinstance(transport, wrapper)
        else transport
        for pattern, transport in client._mounts.items()
    }
    return client
