"""Where rendered lines go: one small protocol (:class:`Output`), one module per kind.

- :mod:`.stream`: a stream, stdout by default (:class:`StreamOutput`);
- :mod:`.background`: a background thread in front of another output
  (:class:`BackgroundOutput`, ``configure(async_output=True)``);
- :mod:`.otel`: OpenTelemetry's Logs SDK (``configure(otel_logs=True)``), imported
  from there only, since it needs the ``[otel]`` extra;
- :mod:`.failures`: failure accounting shared by all; :mod:`.lifecycle`: fork, exit and
  ``shutdown()`` for all.
"""

from __future__ import annotations

from flext_logging.outputs.background import BackgroundOutput
from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import failure_counts, reset_failures
from flext_logging.outputs.lifecycle import shutdown
from flext_logging.outputs.stream import StreamOutput

__all__ = [
    "BackgroundOutput",
    "Output",
    "StreamOutput",
    "failure_counts",
    "reset_failures",
    "shutdown",
]
