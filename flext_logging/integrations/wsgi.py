"""WSGI middleware: every request runs in its own FlextContext, streamed bodies included.

Works with Flask, Django and any other WSGI application::

    from flext_logging.integrations.wsgi import ContextMiddleware

    app.wsgi_app = ContextMiddleware(app.wsgi_app, service_name="orders")  # Flask
    application = ContextMiddleware(get_wsgi_application())  # Django

The request runs in a copy of the server thread's context, entered again for every
chunk of the response body and for ``close()``; so records written while a streamed
body is produced carry the request's ids, and the server thread's own context is
never changed.

The request's fields are also left in the environ (``flext_logging.fields``), where
gunicorn's access logger finds them: its ``gunicorn.access`` line, logged after the
request's context has ended, carries the request's ids too.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Final, Protocol

from flext_logging import stdlib
from flext_logging.context import current_fields
from flext_logging.integrations._server import ContextMiddlewareBase, RequestCycle

__all__ = ["ContextMiddleware"]

# typeshed's form: with an optional traceback, mypy would find Flask's start_response no
# StartResponse, and refuse `app.wsgi_app = ContextMiddleware(app.wsgi_app)`.
ExcInfo = tuple[type[BaseException], BaseException, TracebackType]
Environ = dict[str, Any]


class StartResponse(Protocol):
    """The ``start_response`` callable of PEP 3333."""

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | tuple[None, None, None] | None = ...,
        /,
    ) -> Callable[[bytes], object]: ...


WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ENVIRON_FIELDS: Final = "flext_logging.fields"
"""The environ key holding the request's context fields (for servers' access lines)."""
# gunicorn hands its access logger every environ entry as the atom "{key}e".
_GUNICORN_ATOM: Final = "{" + ENVIRON_FIELDS + "}e"
_GUNICORN_ACCESS: Final = "gunicorn.access"
_SERVER_ERROR: Final = "500 Internal Server Error"
_BAD_REQUEST: Final = "400 Bad Request"


class _Response:
    """What the middleware saw of one response."""

    __slots__ = ("route", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.route: str | None = None


class ContextMiddleware(ContextMiddlewareBase[WSGIApp]):
    """Bind the request's ids for each WSGI request; log its start and end.

    Behaves like :class:`flext_logging.integrations.asgi.ContextMiddleware`, with the
    same options. ``request_finished`` is written when the server closes the response
    body, after the last chunk was sent, so its ``duration_ms`` covers streaming.
    The route template is logged for Flask (werkzeug's ``url_rule``); other
    frameworks get the path.
    """

    __slots__ = ()
    logger_name = __name__

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one WSGI request."""
        if environ.get("PATH_INFO", "") in self._settings.excluded_paths:
            return self.app(environ, start_response)
        context = contextvars.copy_context()
        return context.run(self._serve, context, environ, start_response)

    def _serve(
        self, context: contextvars.Context, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        settings = self._settings
        cycle = RequestCycle(
            settings,
            method=str(environ.get("REQUEST_METHOD", "GET")),
            path=str(environ.get("PATH_INFO", "")),
            headers=_headers_of(environ),
            client_ip=environ.get("REMOTE_ADDR"),
        )
        echo = settings.echo_headers(cycle)
        echo_names = {name.lower() for name, _ in echo}
        response = _Response()

        def start_with_ids(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: ExcInfo | tuple[None, None, None] | None = None,
            /,
        ) -> Callable[[bytes], object]:
            code = status.split(" ", 1)[0]
            response.status = int(code) if code.isdigit() else None
            # Flask drops its request from the environ when the request ends, before
            # the body is closed: read the route while the response starts.
            response.route = _route(environ) or response.route
            kept = [(name, value) for name, value in headers if name.lower() not in echo_names]
            return start_response(status, [*kept, *echo], exc_info)

        scope = cycle.bound()
        scope.__enter__()
        environ[ENVIRON_FIELDS] = current_fields()
        cycle.started()
        app = _reject if cycle.rejected else self.app
        try:
            body = app(environ, start_with_ids)
            iterator = iter(body)
        except Exception as exc:  # noqa: BLE001 - any failure of the app is answered 500
            cycle.failed(exc, _route(environ), 500)
            scope.__exit__(None, None, None)
            # Allowed even after start_response: nothing has been sent yet.
            start_with_ids(
                _SERVER_ERROR, [("Content-Type", "text/plain; charset=utf-8")], sys.exc_info()
            )
            return [b"Internal Server Error"]
        return _Body(
            context=context,
            body=body,
            iterator=iterator,
            cycle=cycle,
            scope=scope,
            response=response,
            environ=environ,
        )


class _Body:
    """The response body, produced and closed inside the request's context."""

    __slots__ = (
        "_body",
        "_context",
        "_cycle",
        "_done",
        "_environ",
        "_iterator",
        "_response",
        "_scope",
    )

    def __init__(
        self,
        *,
        context: contextvars.Context,
        body: Iterable[bytes],
        iterator: Iterator[bytes],
        cycle: RequestCycle,
        scope: AbstractContextManager[None],
        response: _Response,
        environ: Environ,
    ) -> None:
        self._context = context
        self._body = body
        self._iterator = iterator
        self._cycle = cycle
        self._scope = scope
        self._response = response
        self._environ = environ
        self._done = False

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        try:
            return self._context.run(next, self._iterator)
        except StopIteration:
            raise
        except Exception as exc:
            self._context.run(self._finish, exc)
            raise

    def close(self) -> None:
        """Close the application's body, then write ``request_finished`` and unbind."""
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                self._context.run(close)
        finally:
            self._context.run(self._finish, None)

    def _finish(self, exc: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        try:
            route = self._response.route or _route(self._environ)
            self._environ[ENVIRON_FIELDS] = current_fields()  # what the app added meanwhile
            if exc is not None:
                self._cycle.failed(exc, route, self._response.status)
            else:
                self._cycle.finished(self._response.status or 500, route)
        finally:
            self._scope.__exit__(None, None, None)


def _headers_of(environ: Environ) -> list[tuple[str, str]]:
    """Return the request headers of *environ* as (name, value) pairs."""
    return [
        (name[5:].replace("_", "-"), value)
        for name, value in environ.items()
        if name.startswith("HTTP_") and isinstance(value, str)
    ]


def _route(environ: Environ) -> str | None:
    """Return the URL rule werkzeug (Flask) matched, if the request object is in *environ*."""
    request = environ.get("werkzeug.request")
    rule = getattr(getattr(request, "url_rule", None), "rule", None)
    return rule if isinstance(rule, str) else None


def _reject(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """Answer a request whose id headers are invalid (``reject_invalid_ids=True``)."""
    body = b"Invalid request or correlation id header"
    start_response(
        _BAD_REQUEST,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _gunicorn_access_fields(record: logging.LogRecord) -> Mapping[str, Any] | None:
    """The request's fields for a ``gunicorn.access`` record (its args are gunicorn's atoms)."""
    if record.name != _GUNICORN_ACCESS or not isinstance(record.args, Mapping):
        return None
    fields = record.args.get(_GUNICORN_ATOM)
    return fields if isinstance(fields, Mapping) else None


stdlib.on_record_fields(_gunicorn_access_fields)
