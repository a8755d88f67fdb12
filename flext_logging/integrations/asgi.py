"""ASGI middleware: every HTTP and WebSocket request runs in its own FlextContext.

Pure ASGI, so it works with FastAPI, Starlette and any other ASGI application
without importing them::

    from flext_logging.integrations.asgi import ContextMiddleware

    app.add_middleware(ContextMiddleware, service_name="orders")  # FastAPI / Starlette
    app = ContextMiddleware(app)  # any ASGI application
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from flext_logging.integrations._server import ContextMiddlewareBase, RequestCycle

__all__ = ["ContextMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_RESPONSE_STARTS: Final = frozenset(
    {"http.response.start", "websocket.accept", "websocket.http.response.start"}
)
_RESPONSE_BODIES: Final = frozenset({"http.response.body", "websocket.http.response.body"})
_SWITCHING_PROTOCOLS: Final = 101
_DENIED: Final = 403
_BAD_REQUEST: Final = 400
_SERVER_ERROR: Final = 500
_WS_POLICY_VIOLATION: Final = 1008
_WS_INTERNAL_ERROR: Final = 1011


class _Response:
    """What the middleware saw of one response."""

    __slots__ = ("completed", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.completed = False


class ContextMiddleware(ContextMiddlewareBase[ASGIApp]):
    """Bind the request's ids for each HTTP and WebSocket request; log its start and end.

    Reads ``X-Request-Id``, ``X-Correlation-Id``, ``X-Parent-Correlation-Id``,
    ``traceparent`` and ``tracestate`` (any letter case), keeps the valid values,
    generates what is missing or invalid, and binds the ids, a span, the service,
    ``operation_name`` (``METHOD path``) and request metadata for the request.
    Writes ``request_started``, then ``request_finished`` or ``request_failed``, and
    echoes the request and correlation ids on every response, including the 500 it
    sends itself when the application raised before responding.

    *service_name* / *service_version* name this application in its records
    (default: the identity given to ``configure()``). Requests to *excluded_paths*
    pass through untouched. With *reject_invalid_ids*, a request whose id header is
    invalid is answered 400 (a WebSocket is closed with 1008) instead.
    """

    __slots__ = ()
    logger_name = __name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope["type"]
        settings = self._settings
        if kind not in ("http", "websocket") or scope.get("path") in settings.excluded_paths:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        cycle = RequestCycle(
            settings,
            method=scope.get("method", "GET") if kind == "http" else "WEBSOCKET",
            path=scope.get("path", ""),
            headers=[
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in scope.get("headers", ())
            ],
            client_ip=str(client[0]) if client else None,
        )
        echo = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in settings.echo_headers(cycle)
        ]
        echo_names = {name for name, _ in echo}
        response = _Response()

        async def send_with_ids(message: Message) -> None:
            message_type = message["type"]
            if message_type in _RESPONSE_STARTS:
                kept = [
                    (n, v) for n, v in message.get("headers", ()) if n.lower() not in echo_names
                ]
                message = {**message, "headers": [*kept, *echo]}
                response.status = message.get("status", _SWITCHING_PROTOCOLS)
            elif message_type in _RESPONSE_BODIES:
                response.completed = not message.get("more_body", False)
            elif message_type == "websocket.close":
                response.status = response.status or _DENIED
                response.completed = True
            await send(message)

        app = _reject if cycle.rejected else self.app
        with cycle.bound():
            cycle.started()
            try:
                await app(scope, receive, send_with_ids)
            except Exception as exc:
                unanswered = response.status is None
                status = _SERVER_ERROR if unanswered and kind == "http" else response.status
                # Logged before answering: the answer can fail too (a client gone).
                cycle.failed(exc, _route(scope), status)
                if unanswered:
                    await _answer_error(kind, send_with_ids)
                    return
                if response.completed:
                    # The client has a whole answer and the error is logged once, here;
                    # re-raising would make the server log it again, without context.
                    return
                raise
            cycle.finished(response.status or _SERVER_ERROR, _route(scope))


def _route(scope: Scope) -> str | None:
    """Return the route template the framework matched, if it put its route in *scope*."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


async def _answer_error(kind: str, send: Send) -> None:
    if kind == "websocket":
        await send({"type": "websocket.close", "code": _WS_INTERNAL_ERROR})
        return
    await _send_text(send, _SERVER_ERROR, b"Internal Server Error")


async def _reject(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request whose id headers are invalid (``reject_invalid_ids=True``)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})
        return
    await _send_text(send, _BAD_REQUEST, b"Invalid request or correlation id header")


async def _send_text(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
