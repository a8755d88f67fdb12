"""The record schema: every field name a flext-logging record can carry, in order.

This module is the contract with log aggregators and with the ``flext-logging`` CLI.
Every other module refers to these constants, never to string literals; changing a
name or the order is a breaking change recorded in ``CHANGELOG.md``.
"""

from __future__ import annotations

# Imported before `flext-logging trace` starts its search: typing (some 10 ms) only for mypy.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# -- The head of every record, always present, in this order. -------------------------
TIMESTAMP: Final = "timestamp"
"""RFC 3339 UTC time the record was made, with a ``Z`` suffix."""
LEVEL: Final = "level"
"""Lower-case level name: ``debug``, ``info``, ``warning``, ``error``, ``critical``."""
LOGGER: Final = "logger"
"""Name of the logger that made the record."""
MESSAGE: Final = "message"
"""The event text, with ``%``-arguments already applied."""
PROCESS_ID: Final = "process_id"
"""The operating-system id of the process that wrote the record (``os.getpid()``), right
after the head on every record, so that lines of different worker processes sharing one
destination can be told apart."""

# -- Context, read from FlextContext; present only when set, in this order. -----------
CORRELATION_ID: Final = "correlation_id"
PARENT_CORRELATION_ID: Final = "parent_correlation_id"
TRACE_ID: Final = "trace_id"
"""W3C trace id (32 lower-case hex digits) of the trace the record was made in."""
SPAN_ID: Final = "span_id"
"""W3C span id (16 lower-case hex digits) of the span the record was made in."""
REQUEST_ID: Final = "request_id"
SERVICE_NAME: Final = "service_name"
SERVICE_VERSION: Final = "service_version"
ENVIRONMENT: Final = "environment"
USER_ID: Final = "user_id"
OPERATION_NAME: Final = "operation_name"
OPERATION: Final = "operation"
"""Name of the innermost ``timed_operation`` the record was made in."""

EVENT: Final = "event"
"""structlog's name for the message: accepted on input and shown to the processors given
to ``configure(processors=...)``, written as :data:`MESSAGE`."""

HEAD_KEYS: Final = (TIMESTAMP, LEVEL, LOGGER, MESSAGE)
CONTEXT_KEYS: Final = (
    CORRELATION_ID,
    PARENT_CORRELATION_ID,
    TRACE_ID,
    SPAN_ID,
    REQUEST_ID,
    SERVICE_NAME,
    SERVICE_VERSION,
    ENVIRONMENT,
    USER_ID,
    OPERATION_NAME,
    OPERATION,
)
RECORD_KEYS: Final = (*HEAD_KEYS, PROCESS_ID, *CONTEXT_KEYS)
"""Every key whose position is fixed, in order; a call's own fields follow them."""

# -- Fields written by operations and errors. ----------------------------------------
DURATION_MS: Final = "duration_ms"
STATUS: Final = "status"
ERROR_TYPE: Final = "error_type"
METADATA: Final = "metadata"
"""The metadata an operation gathered, on its ``operation_finished`` record."""
ERROR_CODE_FIELD: Final = "error_code"
"""The code of a FlextExceptions error, on an ``operation_failed`` record."""
STACK: Final = "stack"
"""The call stack of a record logged with ``stack_info=True``."""

ERROR: Final = "error"
"""An exception rendered as data; its members are the ``ERROR_*`` keys below."""
ERROR_TYPE_NAME: Final = "type"
ERROR_MESSAGE: Final = "message"
ERROR_STACK: Final = "stack"
ERROR_CODE: Final = "code"
ERROR_CONTEXT: Final = "context"
ERROR_CORRELATION_ID: Final = "correlation_id"
ERROR_CAUSE: Final = "cause"
"""The exception this one was raised ``from`` (``__cause__``), rendered the same way."""
ERROR_CONTEXT_EXCEPTION: Final = "during"
"""The exception being handled when this one was raised (``__context__``)."""
ERROR_TRUNCATED_FRAMES: Final = "frames_omitted"
ERROR_GROUP: Final = "exceptions"
"""The members of an ``ExceptionGroup``, each rendered the same way."""
ERROR_NOTES: Final = "notes"
"""The notes added to the exception with ``add_note()`` (``__notes__``), in order."""
ERROR_TRACEBACK: Final = "traceback"
"""The formatted traceback, for a ``logging`` record that carries only its text
(``exc_text``, e.g. one received from another process's ``SocketHandler``)."""

FRAME_FILE: Final = "file"
FRAME_LINE: Final = "line"
FRAME_FUNCTION: Final = "function"
FRAME_LOCALS: Final = "locals"

# -- Values of STATUS and the events the library itself emits. -----------------------
STATUS_SUCCEEDED: Final = "succeeded"
STATUS_FAILED: Final = "failed"
STATUS_CANCELLED: Final = "cancelled"
"""An operation ended by what is no error: a cancelled task, an interrupt, an exit."""
EVENT_OPERATION_FINISHED: Final = "operation_finished"
EVENT_OPERATION_FAILED: Final = "operation_failed"
EVENT_INVALID_ID_DROPPED: Final = "invalid_context_id_dropped"

# -- Events and fields of the web and HTTP-client integrations. -----------------------
EVENT_REQUEST_STARTED: Final = "request_started"
EVENT_REQUEST_FINISHED: Final = "request_finished"
EVENT_REQUEST_FAILED: Final = "request_failed"
EVENT_HTTP_REQUEST_FINISHED: Final = "http_request_finished"
"""An outgoing HTTP request got a response (any status)."""
EVENT_HTTP_REQUEST_FAILED: Final = "http_request_failed"
"""An outgoing HTTP request got no response (connection error, timeout, ...)."""
HTTP_METHOD: Final = "method"
HTTP_PATH: Final = "path"
"""The request path, control characters removed, without the query string."""
HTTP_ROUTE: Final = "route"
"""The route template the framework matched (``/items/{item_id}``), when it exposes it."""
HTTP_URL: Final = "url"
"""The URL of an outgoing request without user info, query string or fragment."""
STATUS_CODE: Final = "status_code"
CLIENT_IP: Final = "client_ip"
USER_AGENT: Final = "user_agent"
PARENT_SPAN_ID: Final = "parent_span_id"
"""The span a request or outgoing call is a child of (the caller's span)."""

# -- The wire form of the context: HTTP headers (also gRPC/queue metadata). -----------
HEADER_CORRELATION_ID: Final = "X-Correlation-Id"
HEADER_PARENT_CORRELATION_ID: Final = "X-Parent-Correlation-Id"
HEADER_REQUEST_ID: Final = "X-Request-Id"
HEADER_SERVICE_NAME: Final = "X-Service-Name"
HEADER_SERVICE_VERSION: Final = "X-Service-Version"
HEADER_USER_ID: Final = "X-User-Id"
HEADER_OPERATION_NAME: Final = "X-Operation-Name"
HEADER_TRACEPARENT: Final = "traceparent"
"""W3C Trace Context: ``00-<trace id>-<parent span id>-<flags>``."""
HEADER_TRACESTATE: Final = "tracestate"
"""W3C Trace Context: vendor data, passed along unchanged."""

HEADERS: Final = {
    CORRELATION_ID: HEADER_CORRELATION_ID,
    PARENT_CORRELATION_ID: HEADER_PARENT_CORRELATION_ID,
    REQUEST_ID: HEADER_REQUEST_ID,
    SERVICE_NAME: HEADER_SERVICE_NAME,
    SERVICE_VERSION: HEADER_SERVICE_VERSION,
    USER_ID: HEADER_USER_ID,
    OPERATION_NAME: HEADER_OPERATION_NAME,
}
"""Context key -> header name, in the order headers are emitted."""

# -- Message envelopes and child processes. ------------------------------------------
ENVELOPE: Final = "flext_context"
"""The message key under which ``Serialization.inject()`` puts the sender's context."""

ENV_CORRELATION_ID: Final = "FLEXT_CORRELATION_ID"
ENV_REQUEST_ID: Final = "FLEXT_REQUEST_ID"
ENV_SERVICE_NAME: Final = "FLEXT_SERVICE_NAME"
ENV_SERVICE_VERSION: Final = "FLEXT_SERVICE_VERSION"
ENV_ENVIRONMENT: Final = "FLEXT_ENVIRONMENT"
ENV_USER_ID: Final = "FLEXT_USER_ID"
ENV_OPERATION_NAME: Final = "FLEXT_OPERATION_NAME"

ENV_TRACEPARENT: Final = "TRACEPARENT"
ENV_TRACESTATE: Final = "TRACESTATE"
"""The W3C trace context of a parent process, named as OpenTelemetry names these
environment variables, so that a child instrumented with OpenTelemetry joins too."""

ENVIRONMENT_VARIABLES: Final = {
    CORRELATION_ID: ENV_CORRELATION_ID,
    REQUEST_ID: ENV_REQUEST_ID,
    SERVICE_NAME: ENV_SERVICE_NAME,
    SERVICE_VERSION: ENV_SERVICE_VERSION,
    ENVIRONMENT: ENV_ENVIRONMENT,
    USER_ID: ENV_USER_ID,
    OPERATION_NAME: ENV_OPERATION_NAME,
}
"""Context key -> the variable ``Serialization.to_env()`` passes it to a child process in.

A child that calls ``configure()`` names itself after the service variables (as for any
``FLEXT_*`` setting) and adopts the others; the parent's correlation becomes the parent
of the child's own.
"""

# -- gRPC: events and fields of the interceptors (integrations/grpc.py). --------------
EVENT_RPC_STARTED: Final = "rpc_started"
EVENT_RPC_FINISHED: Final = "rpc_finished"
EVENT_RPC_FAILED: Final = "rpc_failed"
RPC_METHOD: Final = "rpc_method"
"""The full gRPC method name, ``/package.Service/Method``."""
RPC_CODE: Final = "rpc_code"
"""The name of the gRPC status code the call ended with, e.g. ``OK``, ``NOT_FOUND``."""
RPC_DETAILS: Final = "rpc_details"
"""The status details (message) of a call that did not end ``OK``."""
RPC_SIDE: Final = "rpc_side"
"""Which end of the call wrote the record: ``client`` or ``server``."""
RPC_SIDE_CLIENT: Final = "client"
RPC_SIDE_SERVER: Final = "server"

# -- Celery: events and fields of the task signals (integrations/celery.py). ----------
EVENT_TASK_STARTED: Final = "task_started"
EVENT_TASK_SUCCEEDED: Final = "task_succeeded"
EVENT_TASK_FAILED: Final = "task_failed"
EVENT_TASK_RETRIED: Final = "task_retried"
"""An attempt of a task ended in a retry: another attempt was published."""
EVENT_TASK_IGNORED: Final = "task_ignored"
"""An attempt of a task ended by raising ``celery.exceptions.Ignore``: no state stored."""
EVENT_TASK_REJECTED: Final = "task_rejected"
"""An attempt of a task ended by raising ``celery.exceptions.Reject``: its message was
rejected (``requeue`` tells whether it goes back to the queue)."""
TASK_REQUEUE: Final = "requeue"
"""On ``task_rejected``: whether the message was put back on the queue."""
TASK_ID: Final = "task_id"
TASK_NAME: Final = "task_name"
TASK_RETRIES: Final = "task_retries"
"""How many times the task had been retried before this attempt (on retried attempts)."""

# -- Reliability: what the library writes when a record was cut, failed or was lost. --
TRUNCATED: Final = "truncated"
"""``true`` on a record cut to fit ``configure(max_record_bytes=...)``."""
TRUNCATED_FIELDS: Final = "truncated_fields"
"""The names of the fields a cut record lost or had shortened, largest first; a member
of a dict cut inside it is named ``field.member``."""
FIELDS_OMITTED: Final = "fields_omitted"
"""How many more fields a cut record lost than ``truncated_fields`` names: fields past the
first 1000, or names too many to list. Present only when not zero."""
LOGGING_ERROR: Final = "logging_error"
"""On a minimal record written instead of one that a processor failed on: the error."""
EVENT_RECORDS_DROPPED: Final = "log_records_dropped"
"""Records were dropped because the ``async_output`` queue was full (``overflow="drop"``)."""
DROPPED_COUNT: Final = "dropped_count"
"""How many records were dropped since the previous ``log_records_dropped`` record."""
