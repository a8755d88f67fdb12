"""Where rendered lines go: one small protocol (:class:`Output`), one module per kind.

- :mod:`.stream`: a stream, stdout by default (:class:`StreamOutput`), safe on a pipe
  shared by several processes;
- :mod:`.file`: a file shared by several processes, reopened after logrotate, rotated
  by size (:class:`FileOutput`);
- :mod:`.handoff`: through the ``logging`` module, to the handlers the application
  configured (:class:`LoggingOutput`);
- :mod:`.background`: a background thread in front of another output
  (:class:`BackgroundOutput`, ``configure(async_output=True)``);
- :mod:`.otel`: OpenTelemetry's Logs SDK (``configure(otel_logs=True)``), imported
  from there only, since it needs the ``[otel]`` extra;
- :mod:`.failures`: failure accounting shared by all; :mod:`.lifecycle`: fork, exit and
  ``shutdown()`` for all.

``configure(outputs=[...])`` takes :class:`StreamOutput`, :class:`FileOutput` and
:class:`LoggingOutput`, each with its own ``format`` and ``level``.
"""

from __future__ import annotations

from flext_logging.outputs.background import BackgroundOutput
from flext_logging.outputs.base import Output
from flext_logging.outputs.failures import failure_counts, reset_failures
from flext_logging.outputs.file import FileOutput
from flext_logging.outputs.handoff import LoggingOutput
from flext_logging.outputs.lifecycle import shutdown
from flext_logging.outputs.stream import StreamOutput

__all__ = [
    "BackgroundOutput",
    "FileOutput",
    "LoggingOutput",
    "Output",
    "StreamOutput",
    "failure_counts",
    "reset_failures",
    "shutdown",
]
