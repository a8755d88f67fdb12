"""requests: carry the context to every service a ``requests.Session`` calls.

::

    from flext_logging.integrations.requests import propagate

    session = propagate(requests.Session())
    session.get("http://billing/invoices")

Needs the ``requests`` extra: ``pip install flext-logging[requests]``.
"""

from __future__ import annotations

from collections.abc import Mapping

try:
    import requests
    from requests.adapters import BaseAdapter
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "flext_logging.integrations.requests needs requests: pip install flext-logging[requests]"
    ) from error

from flext_logging.integrations._client import outgoing_call
from flext_logging.logger import get_logger

__all__ = ["propagate"]

_logger = get_logger(__name__)

_Timeout = float | tuple[float, float] | tuple[float, None] | None


class _PropagatingAdapter(BaseAdapter):
    """Wrap a transport adapter: each exchange gets a child span, headers and a record."""

    def __init__(self, adapter: BaseAdapter) -> None:
        super().__init__()
        self._adapter = adapter

    def send(  # noqa: PLR0917 - requests' own signature, called positionally
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send *request* with the context headers; log the outcome."""
        with outgoing_call(
            _logger, request.method or "GET", request.url or "", lambda: request.headers
        ) as call:
            call.inject(request.headers)
            response = self._adapter.send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
            call.status_code = response.status_code
            return response

    def close(self) -> None:
        """Close the wrapped adapter."""
        self._adapter.close()

    def __getattr__(self, name: str) -> object:
        # Code that tunes the adapter (max_retries, pool settings) reaches the real one.
        return getattr(self._adapter, name)


def propagate(session: requests.Session) -> requests.Session:
    """Make *session* send the current context with every request, and return it.

    Wraps the adapters mounted now (``http://`` and ``https://`` by default): every
    request, each redirect hop too, runs in a child span of the current one,
    carries the context headers and a ``traceparent`` naming that span, and is
    logged as ``http_request_finished`` or ``http_request_failed``. Headers the
    caller set are kept. Adapters mounted later are not wrapped: mount them first.
    """
    for prefix, adapter in list(session.adapters.items()):
        if not isinstance(adapter, _PropagatingAdapter):
            session.adapters[prefix] = _PropagatingAdapter(adapter)
    return session
