"""gRPC interceptors: the context travels in call metadata, every call is logged.

Client interceptors send the current correlation, request and service values as
lower-case metadata (``x-correlation-id``, ``x-request-id``, ...) and ``traceparent``
when a span is active. Server interceptors adopt them (validated like every inbound
value), run the handler in the caller's correlation (or a new one) and in a span of the
caller's trace (or a new one), and send ``x-request-id`` and ``x-correlation-id`` back
in the trailing metadata, also when the call fails. Both sides log ``rpc_started``
and, when the call ends, ``rpc_finished`` (status ``OK``) or ``rpc_failed`` at error
level, with ``rpc_method``, ``rpc_side`` (``client`` or ``server``), ``rpc_code`` and
``duration_ms``.

Sync API::

    server = grpc.server(pool, interceptors=[ServerInterceptor()])
    channel = grpc.intercept_channel(grpc.insecure_channel(target), ClientInterceptor())

``grpc.aio`` API::

    server = grpc.aio.server(interceptors=[AsyncServerInterceptor()])
    channel = grpc.aio.insecure_channel(target, interceptors=async_client_interceptors())
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any, Final, NamedTuple

try:
    import grpc
    from grpc import aio
except ImportError as error:
    raise ImportError(
        "flext_logging.integrations.grpc needs grpcio: pip install 'flext-logging[grpc]'"
    ) from error

from flext_logging import keys
from flext_logging.context import FlextContext
from flext_logging.context.ids import new_id
from flext_logging.context.scopes import scoped
from flext_logging.context.trace import is_valid_tracestate, parse_traceparent
from flext_logging.integrations._headers import outbound_headers
from flext_logging.logger import FlextLogger, get_logger

__all__ = [
    "AsyncServerInterceptor",
    "ClientInterceptor",
    "ServerInterceptor",
    "async_client_interceptors",
]

_server_logger: Final = get_logger("flext_logging.grpc.server")
_client_logger: Final = get_logger("flext_logging.grpc.client")
_OK: Final = grpc.StatusCode.OK
_SYNC_CRASH: Final = "Exception calling application: "
_SYNC_STREAM_CRASH: Final = "Exception iterating responses: "
"""How the ``grpc.server`` API words the details of a handler's exception."""


# -- Metadata -----------------------------------------------------------------------


def _outgoing_metadata(metadata: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    """Return *metadata* plus the context values the caller did not set itself."""
    given = list(metadata or ())
    taken = {str(name).lower() for name, _ in given}
    span = FlextContext.Trace.current_span()
    headers = (
        outbound_headers(span)
        if span is not None
        else FlextContext.Serialization.get_correlation_context()
    )
    ours = {header.lower(): value for header, value in headers.items()}
    return given + [(name, value) for name, value in ours.items() if name not in taken]


def _received(metadata: Iterable[Any] | None) -> dict[str, str]:
    """The text entries of invocation metadata (binary ``-bin`` entries are skipped)."""
    received: dict[str, str] = {}
    for entry in metadata or ():
        name, value = entry[0], entry[1]
        if isinstance(name, str) and isinstance(value, str):
            received[name.lower()] = value
    return received


class _ServerCall(NamedTuple):
    """What the server decided for one call: its ids, and the caller's span."""

    echo: tuple[tuple[str, str], ...]
    """The ``x-request-id`` and ``x-correlation-id`` entries sent back to the caller."""
    parent_span_id: str | None


_ECHOED: Final = (keys.HEADER_REQUEST_ID.lower(), keys.HEADER_CORRELATION_ID.lower())


@contextmanager
def _server_scope(metadata: Iterable[Any] | None) -> Iterator[_ServerCall]:
    """Adopt the caller's context, as the web middleware does, and a span for the call.

    A call is synchronous work for the caller's request, so it keeps the caller's
    correlation id (one is created when none came); queues and Celery, where work
    outlives the request, start a child correlation instead. A call without a request
    id gets one, and a call without a ``traceparent`` the root span of a new trace.
    """
    received = _received(metadata)
    with ExitStack() as stack:
        stack.enter_context(FlextContext.Serialization.context_from(received))
        correlation_id = stack.enter_context(FlextContext.Correlation.inherit_correlation())
        request_id = FlextContext.Request.get_request_id()
        if request_id is None:
            request_id = new_id()
            stack.enter_context(scoped({keys.REQUEST_ID: request_id}))
        trace = parse_traceparent(received.get(keys.HEADER_TRACEPARENT, ""))
        if trace is not None:
            tracestate = received.get(keys.HEADER_TRACESTATE)
            stack.enter_context(
                FlextContext.Trace.span(
                    trace_id=trace.trace_id,
                    parent_span_id=trace.parent_span_id,
                    flags=trace.flags,
                    tracestate=tracestate
                    if tracestate and is_valid_tracestate(tracestate)
                    else None,
                )
            )
        else:
            stack.enter_context(FlextContext.Trace.span())
        yield _ServerCall(
            tuple(zip(_ECHOED, (request_id, correlation_id), strict=True)),
            trace.parent_span_id if trace is not None else None,
        )


def _echo(context: Any, server_call: _ServerCall) -> None:
    """Put the call's ids in the trailing metadata, beside what the handler set there.

    Set before the handler runs (an abort sends the trailing metadata set so far) and
    again after it, in case the handler replaced them.
    """
    try:
        current = tuple(context.trailing_metadata() or ())
        names = {str(entry[0]).lower() for entry in current}
        missing = tuple(entry for entry in server_call.echo if entry[0] not in names)
        if missing:
            context.set_trailing_metadata(current + missing)
    except Exception:  # noqa: BLE001, S110 - a finished or odd context: the call goes on
        pass


# -- Records ------------------------------------------------------------------------


class _Call:
    """One RPC being logged: ``rpc_started`` on creation, one closing record at the end."""

    __slots__ = ("_fields", "_logger", "_started")

    def __init__(
        self, logger: FlextLogger, method: str, side: str, parent_span_id: str | None = None
    ) -> None:
        self._logger = logger
        self._fields: dict[str, Any] = {keys.RPC_METHOD: method, keys.RPC_SIDE: side}
        if parent_span_id is not None:
            self._fields[keys.PARENT_SPAN_ID] = parent_span_id
        self._started = time.perf_counter()
        logger.info(keys.EVENT_RPC_STARTED, **self._fields)

    def finished(
        self,
        code: grpc.StatusCode | None,
        details: str | bytes | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Log how the call ended; a missing code means OK, or UNKNOWN after *error*."""
        if code is None:
            code = _OK if error is None else grpc.StatusCode.UNKNOWN
        fields: dict[str, Any] = {
            **self._fields,
            keys.RPC_CODE: code.name,
            keys.DURATION_MS: round((time.perf_counter() - self._started) * 1000.0, 3),
        }
        if code is _OK:
            self._logger.info(keys.EVENT_RPC_FINISHED, **fields)
            return
        if isinstance(details, bytes):
            details = details.decode("utf-8", "replace")
        if details:
            fields[keys.RPC_DETAILS] = details
        self._logger.error(keys.EVENT_RPC_FAILED, exc_info=error, **fields)


def _servicer_code(context: Any) -> grpc.StatusCode | None:
    """The code a handler set or aborted with (``ServicerContext.code()``, grpcio >= 1.38)."""
    code = getattr(context, "code", None)
    return code() if callable(code) else None


def _servicer_details(context: Any) -> str | bytes | None:
    details = getattr(context, "details", None)
    return details() if callable(details) else None


def _failed(call: _Call, context: Any, error: BaseException) -> bool:
    """Log a handler that raised: an abort with its code, anything else as UNKNOWN.

    Returns whether the handler crashed (an exception that was neither an abort nor
    a dropped stream): the caller then ends the call itself, so that gRPC does not log
    the exception a second time, without the call's context.
    """
    code = _servicer_code(context)
    if code is not None and code is not _OK:
        call.finished(code, _servicer_details(context))  # an abort: no traceback to show
        return False
    if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
        call.finished(grpc.StatusCode.CANCELLED)  # the stream was dropped, nothing failed
        return False
    call.finished(grpc.StatusCode.UNKNOWN, error=error)
    return isinstance(error, Exception)


def _crash_details(prefix: str, error: BaseException) -> str:
    """The status details gRPC itself would send for *error*."""
    try:
        return f"{prefix}{error}"
    except Exception:  # noqa: BLE001 - an exception whose str() raises
        return "Calling application raised unprintable Exception!"


# -- Server, sync API -----------------------------------------------------------------


def _wrap_sync(behavior: Callable[..., Any], method: str, streaming: bool) -> Callable[..., Any]:
    def unary(request: Any, context: grpc.ServicerContext) -> Any:
        with _server_scope(context.invocation_metadata()) as server_call:
            _echo(context, server_call)
            call = _Call(_server_logger, method, keys.RPC_SIDE_SERVER, server_call.parent_span_id)
            try:
                response = behavior(request, context)
            except BaseException as error:
                _echo(context, server_call)
                if _failed(call, context, error):
                    # An abort ends the call as UNKNOWN, as gRPC would, but unlogged.
                    context.abort(grpc.StatusCode.UNKNOWN, _crash_details(_SYNC_CRASH, error))
                raise
            _echo(context, server_call)
            call.finished(_servicer_code(context), _servicer_details(context))
            return response

    def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        # The call's context lives in a Context of its own, entered for each response:
        # a stream the client drops may be closed from another thread, and the scopes
        # must still be left in the Context they were entered in.
        own = contextvars.copy_context()
        scope = ExitStack()
        server_call = own.run(scope.enter_context, _server_scope(context.invocation_metadata()))
        try:
            _echo(context, server_call)
            call = own.run(
                _Call, _server_logger, method, keys.RPC_SIDE_SERVER, server_call.parent_span_id
            )
            responses: Iterator[Any] | None = None
            try:
                responses = own.run(lambda: iter(behavior(request, context)))
                while True:
                    try:
                        response = own.run(next, responses)
                    except StopIteration:
                        break
                    yield response
            except BaseException as error:
                _echo(context, server_call)
                if own.run(_failed, call, context, error):
                    details = _crash_details(_SYNC_STREAM_CRASH, error)
                    context.abort(grpc.StatusCode.UNKNOWN, details)
                raise
            finally:
                close = getattr(responses, "close", None)
                if close is not None:
                    own.run(close)
            _echo(context, server_call)
            own.run(call.finished, _servicer_code(context), _servicer_details(context))
        finally:
            own.run(scope.close)

    return stream if streaming else unary


def _rebuilt(
    handler: grpc.RpcMethodHandler[Any, Any],
    wrap: Callable[[Callable[..., Any], bool], Callable[..., Any]],
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler like *handler* whose behaviour is wrapped by *wrap*."""
    serializers: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary, False), **serializers)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream, True), **serializers)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary, False), **serializers
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            wrap(handler.stream_stream, True), **serializers
        )
    return handler


class ServerInterceptor(grpc.ServerInterceptor):
    """Adopt the caller's context for each call and log it (``grpc.server`` API).

    Pass it in ``grpc.server(..., interceptors=[ServerInterceptor()])``.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Wrap the handler of the called method; unknown methods pass through."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return _rebuilt(
            handler, lambda behavior, streaming: _wrap_sync(behavior, method, streaming)
        )


# -- Server, grpc.aio API ---------------------------------------------------------------


def _wrap_async(behavior: Callable[..., Any], method: str, streaming: bool) -> Callable[..., Any]:
    async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        with _server_scope(context.invocation_metadata()) as server_call:
            _echo(context, server_call)
            call = _Call(_server_logger, method, keys.RPC_SIDE_SERVER, server_call.parent_span_id)
            try:
                response = behavior(request, context)
                if inspect.isawaitable(response):
                    response = await response
            except BaseException as error:
                _echo(context, server_call)
                if _failed(call, context, error):
                    await context.abort(grpc.StatusCode.UNKNOWN, _aio_crash_details(error))
                raise
            _echo(context, server_call)
            call.finished(_servicer_code(context), _servicer_details(context))
            return response

    async def stream(request: Any, context: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        with _server_scope(context.invocation_metadata()) as server_call:
            _echo(context, server_call)
            call = _Call(_server_logger, method, keys.RPC_SIDE_SERVER, server_call.parent_span_id)
            try:
                responses = behavior(request, context)
                if hasattr(responses, "__aiter__"):
                    async for response in responses:
                        yield response
                elif inspect.isawaitable(responses):  # a handler that uses context.write()
                    await responses
                else:
                    for response in responses:
                        yield response
            except BaseException as error:
                _echo(context, server_call)
                if _failed(call, context, error):
                    await context.abort(grpc.StatusCode.UNKNOWN, _aio_crash_details(error))
                raise
            _echo(context, server_call)
            call.finished(_servicer_code(context), _servicer_details(context))

    return stream if streaming else unary


def _aio_crash_details(error: BaseException) -> str:
    return _crash_details(f"Unexpected {type(error)}: ", error)


class AsyncServerInterceptor(aio.ServerInterceptor):
    """Adopt the caller's context for each call and log it (``grpc.aio.server`` API).

    Pass it in ``grpc.aio.server(interceptors=[AsyncServerInterceptor()])``.
    """

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """Wrap the handler of the called method; unknown methods pass through."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return _rebuilt(
            handler, lambda behavior, streaming: _wrap_async(behavior, method, streaming)
        )


# -- Client, sync API -----------------------------------------------------------------


class _ClientCallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, Any]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def _with_context(details: grpc.ClientCallDetails) -> Any:
    """The call details with the context added to the metadata."""
    return _ClientCallDetails(
        details.method,
        details.timeout,
        _outgoing_metadata(details.metadata),
        details.credentials,
        getattr(details, "wait_for_ready", None),
        getattr(details, "compression", None),
    )


class ClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Send the context with every call and log it (sync API, all four call kinds).

    Use ``grpc.intercept_channel(channel, ClientInterceptor())``. The closing record is
    written when the call completes, in the context the call was made in.
    """

    def _intercept(
        self, continuation: Callable[[Any, Any], Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        call = _Call(_client_logger, str(details.method), keys.RPC_SIDE_CLIENT)
        outcome = continuation(_with_context(details), request)

        def done(completed: Any) -> None:
            call.finished(completed.code(), completed.details())

        outcome.add_done_callback(FlextContext.Utilities.propagate(done))
        return outcome

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Send the context with a unary-unary call and log it."""
        return self._intercept(continuation, client_call_details, request)

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        """Send the context with a unary-stream call and log it."""
        return self._intercept(continuation, client_call_details, request)

    def intercept_stream_unary(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request_iterator: Any
    ) -> Any:
        """Send the context with a stream-unary call and log it."""
        return self._intercept(continuation, client_call_details, request_iterator)

    def intercept_stream_stream(
        self, continuation: Any, client_call_details: grpc.ClientCallDetails, request_iterator: Any
    ) -> Any:
        """Send the context with a stream-stream call and log it."""
        return self._intercept(continuation, client_call_details, request_iterator)


# -- Client, grpc.aio API -------------------------------------------------------------


def _with_context_async(details: aio.ClientCallDetails) -> aio.ClientCallDetails:
    return aio.ClientCallDetails(
        details.method,
        details.timeout,
        aio.Metadata(*_outgoing_metadata(list(details.metadata or ()))),
        details.credentials,
        details.wait_for_ready,
    )


# Closing-record tasks of streaming calls, kept referenced until they finish.
_pending: set[asyncio.Task[None]] = set()


async def _finish_when_done(call: _Call, rpc: Any) -> None:
    call.finished(await rpc.code(), await rpc.details())


async def _intercept_async(continuation: Any, details: aio.ClientCallDetails, request: Any) -> Any:
    call = _Call(_client_logger, str(details.method), keys.RPC_SIDE_CLIENT)
    rpc = await continuation(_with_context_async(details), request)
    # Waiting here keeps the closing record ahead of anything the caller logs after
    # its await; a failed call is still returned, and raises for the caller.
    try:
        with suppress(grpc.RpcError):
            await rpc
    except asyncio.CancelledError:
        call.finished(grpc.StatusCode.CANCELLED)  # the caller gave up waiting
        raise
    call.finished(await rpc.code(), await rpc.details())
    return rpc


async def _intercept_async_stream(
    continuation: Any, details: aio.ClientCallDetails, request: Any
) -> Any:
    call = _Call(_client_logger, str(details.method), keys.RPC_SIDE_CLIENT)
    rpc = await continuation(_with_context_async(details), request)
    # The responses are the caller's to read: the record is written when the call ends.
    task = asyncio.get_running_loop().create_task(_finish_when_done(call, rpc))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return rpc


class _AsyncUnaryUnary(aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        return await _intercept_async(continuation, client_call_details, request)


class _AsyncUnaryStream(aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        return await _intercept_async_stream(continuation, client_call_details, request)


class _AsyncStreamUnary(aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: aio.ClientCallDetails, request_iterator: Any
    ) -> Any:
        return await _intercept_async(continuation, client_call_details, request_iterator)


class _AsyncStreamStream(aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: aio.ClientCallDetails, request_iterator: Any
    ) -> Any:
        return await _intercept_async_stream(continuation, client_call_details, request_iterator)


def async_client_interceptors() -> list[aio.ClientInterceptor]:
    """Return the interceptors that send the context with every ``grpc.aio`` call.

    One per call kind, as ``grpc.aio`` requires:
    ``grpc.aio.insecure_channel(target, interceptors=async_client_interceptors())``.
    Unary-response calls are logged before the caller's ``await`` returns; streaming
    ones when the call ends.
    """
    return [_AsyncUnaryUnary(), _AsyncUnaryStream(), _AsyncStreamUnary(), _AsyncStreamStream()]
