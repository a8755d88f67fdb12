"""What the ASGI and WSGI middleware share: settings and the life of one inbound request.

A :class:`RequestCycle` decides the request's ids from the caller's headers (or
generates them), binds them with the trace span and request metadata, and writes the
``request_started`` / ``request_finished`` / ``request_failed`` records. The
middleware modules only translate their protocol into these calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar, Final, Generic, TypeVar

from flext_logging import keys
from flext_logging.context import FlextContext, ids
from flext_logging.context.scopes import scoped
from flext_logging.integrations import _headers
from flext_logging.logger import FlextLogger, get_logger

__all__ = ["ContextMiddlewareBase", "RequestCycle", "ServerSettings"]

_App = TypeVar("_App")

_PATH_LIMIT: Final = 1024
_USER_AGENT_LIMIT: Final = 256
_CLIENT_IP_LIMIT: Final = 64
_CALLER_SERVICE: Final = "caller_service"
_CALLER_SERVICE_VERSION: Final = "caller_service_version"


class ServerSettings:
    """The options of one middleware instance, checked once when it is created."""

    __slots__ = (
        "correlation_id_header",
        "excluded_paths",
        "id_generator",
        "logger",
        "reject_invalid_ids",
        "request_id_header",
        "service",
    )

    def __init__(
        self,
        *,
        logger_name: str,
        service_name: str | None,
        service_version: str | None,
        request_id_header: str,
        correlation_id_header: str,
        id_generator: Callable[[], str],
        excluded_paths: Iterable[str],
        reject_invalid_ids: bool,
    ) -> None:
        service: dict[str, str | None] = {}
        for key, value in (
            (keys.SERVICE_NAME, service_name),
            (keys.SERVICE_VERSION, service_version),
        ):
            if value is not None:
                if (
                    not value
                    or len(value) > ids.MAX_ID_LENGTH
                    or _headers.clean_text(value, ids.MAX_ID_LENGTH) != value
                ):
                    raise ValueError(
                        f"{key} {value!r} is unusable: empty, too long or control characters"
                    )
                service[key] = value
        for header in (request_id_header, correlation_id_header):
            if not header or not header.isascii() or not header.replace("-", "").isalnum():
                raise ValueError(
                    f"header name {header!r} is not a token of letters, digits and '-'"
                )
        self.logger: FlextLogger = get_logger(logger_name)
        self.service = service
        self.request_id_header = request_id_header
        self.correlation_id_header = correlation_id_header
        self.id_generator = id_generator
        self.excluded_paths = frozenset(excluded_paths)
        self.reject_invalid_ids = reject_invalid_ids

    def new_id(self) -> str:
        """Return an id from the generator, or a random one if the generator's is invalid."""
        value = self.id_generator()
        if ids.is_valid_id(value):
            return value
        self.logger.warning(
            keys.EVENT_INVALID_ID_DROPPED,
            field="generated_id",
            source="id_generator",
            reason=f"not 1-{ids.MAX_ID_LENGTH} characters of [A-Za-z0-9._:-]",
            value_preview=ascii(value)[:48],
        )
        return ids.new_id()

    def echo_headers(self, cycle: RequestCycle) -> list[tuple[str, str]]:
        """Return the id headers every response of *cycle* carries."""
        return [
            (self.request_id_header, cycle.request_id),
            (self.correlation_id_header, cycle.correlation_id),
        ]


class RequestCycle:
    """One inbound request: its ids, its bound context, and its three records."""

    __slots__ = (
        "_started",
        "correlation_id",
        "fields",
        "inbound",
        "metadata",
        "method",
        "operation_name",
        "request_id",
        "settings",
    )

    def __init__(
        self,
        settings: ServerSettings,
        *,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        client_ip: str | None,
    ) -> None:
        self._started = time.perf_counter()
        self.settings = settings
        headers = list(headers)
        inbound = _headers.read_inbound(
            headers,
            request_id_header=settings.request_id_header,
            correlation_id_header=settings.correlation_id_header,
        )
        self.inbound = inbound
        self.request_id = inbound.request_id or settings.new_id()
        self.correlation_id = inbound.correlation_id or settings.new_id()
        self.method = _headers.clean_text(method, 16)
        clean_path = _headers.clean_text(path, _PATH_LIMIT)
        self.operation_name = _headers.clean_text(f"{self.method} {clean_path}", ids.MAX_ID_LENGTH)
        user_agent = next((v for n, v in headers if n.lower() == "user-agent"), None)
        self.fields: dict[str, Any] = {keys.HTTP_METHOD: self.method, keys.HTTP_PATH: clean_path}
        if client_ip:
            self.fields[keys.CLIENT_IP] = _headers.clean_text(client_ip, _CLIENT_IP_LIMIT)
        if user_agent:
            self.fields[keys.USER_AGENT] = _headers.clean_text(user_agent, _USER_AGENT_LIMIT)
        self.metadata: dict[str, Any] = dict(self.fields)
        if inbound.caller_service:
            self.metadata[_CALLER_SERVICE] = inbound.caller_service
        if inbound.caller_service_version:
            self.metadata[_CALLER_SERVICE_VERSION] = inbound.caller_service_version

    @property
    def rejected(self) -> bool:
        """Tell whether the request should be answered 400 for an invalid id header."""
        return self.settings.reject_invalid_ids and self.inbound.rejected_ids

    @contextmanager
    def bound(self) -> Iterator[None]:
        """Bind the request's ids, span, service and metadata for the block."""
        trace = self.inbound.trace
        changes: dict[str, str | None] = {
            keys.CORRELATION_ID: self.correlation_id,
            keys.PARENT_CORRELATION_ID: self.inbound.parent_correlation_id,
            keys.REQUEST_ID: self.request_id,
            keys.OPERATION_NAME: self.operation_name,
            **self.settings.service,
        }
        with ExitStack() as stack:
            if trace is not None:
                stack.enter_context(
                    FlextContext.Trace.span(
                        trace_id=trace.trace_id,
                        parent_span_id=trace.parent_span_id,
                        flags=trace.flags,
                        tracestate=self.inbound.tracestate,
                    )
                )
            else:
                stack.enter_context(FlextContext.Trace.span())
            stack.enter_context(scoped(changes, self.metadata))
            # Inside the scope, so the warnings carry the ids the request ended up with.
            _headers.report_rejected(self.inbound)
            yield

    def _record_fields(self) -> dict[str, Any]:
        fields = dict(self.fields)
        if self.inbound.trace is not None:
            fields[keys.PARENT_SPAN_ID] = self.inbound.trace.parent_span_id
        return fields

    def started(self) -> None:
        """Write ``request_started``."""
        self.settings.logger.info(keys.EVENT_REQUEST_STARTED, **self._record_fields())

    def finished(self, status_code: int, route: str | None = None) -> None:
        """Write ``request_finished``; with the route template, name the operation by it."""
        fields = self._record_fields()
        if route is not None:
            fields[keys.HTTP_ROUTE] = _headers.clean_text(route, _PATH_LIMIT)
            operation = _headers.clean_text(f"{self.method} {route}", ids.MAX_ID_LENGTH)
            fields[keys.OPERATION_NAME] = operation
        fields[keys.STATUS_CODE] = status_code
        fields[keys.DURATION_MS] = self.duration_ms()
        self.settings.logger.log(
            _headers.level_for_status(status_code), keys.EVENT_REQUEST_FINISHED, **fields
        )

    def failed(
        self, exc: BaseException, route: str | None = None, status_code: int | None = None
    ) -> None:
        """Write ``request_failed`` at error level, with the exception as ``error`` data.

        *status_code* is the status the client was answered with, when it got one.
        """
        fields = self._record_fields()
        if route is not None:
            fields[keys.HTTP_ROUTE] = _headers.clean_text(route, _PATH_LIMIT)
            fields[keys.OPERATION_NAME] = _headers.clean_text(
                f"{self.method} {route}", ids.MAX_ID_LENGTH
            )
        if status_code is not None:
            fields[keys.STATUS_CODE] = status_code
        fields[keys.DURATION_MS] = self.duration_ms()
        fields[keys.ERROR_TYPE] = type(exc).__qualname__
        self.settings.logger.error(keys.EVENT_REQUEST_FAILED, exc_info=exc, **fields)

    def duration_ms(self) -> float:
        """Return the milliseconds since the request arrived."""
        return round((time.perf_counter() - self._started) * 1000.0, 3)


class ContextMiddlewareBase(Generic[_App]):
    """The options shared by the ASGI and WSGI ``ContextMiddleware``; holds no request state."""

    __slots__ = ("_settings", "app")
    logger_name: ClassVar[str]
    """The logger its records are written under (fixed per integration, also for subclasses)."""

    def __init__(
        self,
        app: _App,
        *,
        service_name: str | None = None,
        service_version: str | None = None,
        request_id_header: str = keys.HEADER_REQUEST_ID,
        correlation_id_header: str = keys.HEADER_CORRELATION_ID,
        id_generator: Callable[[], str] = ids.new_id,
        excluded_paths: Iterable[str] = (),
        reject_invalid_ids: bool = False,
    ) -> None:
        self.app = app
        self._settings = ServerSettings(
            logger_name=self.logger_name,
            service_name=service_name,
            service_version=service_version,
            request_id_header=request_id_header,
            correlation_id_header=correlation_id_header,
            id_generator=id_generator,
            excluded_paths=excluded_paths,
            reject_invalid_ids=reject_invalid_ids,
        )
