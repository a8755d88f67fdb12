"""``FlextContext``: the correlation, request, service and timing context of the current work.

The package follows the concerns of the context, each module building on the ones
before it:

- :mod:`.ids`: which values may name work, new ids, reporting a value dropped;
- :mod:`.trace`: W3C trace context (trace and span ids, ``traceparent``), and
  OpenTelemetry's active span;
- :mod:`.state`: the context variables and the process-wide defaults;
- :mod:`.scopes`: ``with`` blocks that set values and restore them, timed operations;
- :mod:`.carriers`: the context in headers, message envelopes and child processes;
- :mod:`.facade`: :class:`FlextContext`, the public face of all of them.
"""

from __future__ import annotations

from flext_logging.context.carriers import inherit_from_environment
from flext_logging.context.facade import FlextContext
from flext_logging.context.ids import ID_KEYS, MAX_ID_LENGTH, is_valid_id
from flext_logging.context.state import current_fields, process_defaults, set_process_defaults
from flext_logging.context.trace import (
    SAMPLED_FLAGS,
    TraceSpan,
    is_valid_span_id,
    is_valid_trace_id,
)

__all__ = [
    "ID_KEYS",
    "MAX_ID_LENGTH",
    "SAMPLED_FLAGS",
    "FlextContext",
    "TraceSpan",
    "current_fields",
    "inherit_from_environment",
    "is_valid_id",
    "is_valid_span_id",
    "is_valid_trace_id",
    "process_defaults",
    "set_process_defaults",
]
