"""``configure()``: the one place the logging configuration of a process is decided.

It decides every setting from explicit arguments, ``FLEXT_*`` environment variables and
the environment's preset (in that order of precedence, see :mod:`flext_logging.settings`),
builds a :class:`~flext_logging._pipeline.Pipeline` from them, makes it active, and
routes the standard ``logging`` module through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

from flext_logging import _pipeline, context, renderers, settings, stdlib
from flext_logging.exceptions import FlextExceptions
from flext_logging.outputs import reset_failures
from flext_logging.outputs.background import DEFAULT_QUEUE_SIZE, check_options
from flext_logging.outputs.otel import OpenTelemetryOutput
from flext_logging.settings import ErrorHandlingConfig

if TYPE_CHECKING:
    from opentelemetry._logs import LoggerProvider

__all__ = ["configure", "reset"]


def configure(
    *,
    format: str | None = None,  # noqa: A002 - the natural name of the option
    level: int | str | None = None,
    stream: IO[Any] | None = None,
    service_name: str | None = None,
    service_version: str | None = None,
    environment: str | None = None,
    log_operations: bool = True,
    redaction: bool | None = None,
    redact_keys: Iterable[str] | None = None,
    redact_default_keys: bool = True,
    redact_patterns: Iterable[str | re.Pattern[str]] = (),
    processors: Sequence[_pipeline.Processor] = (),
    capture_stdlib: bool = True,
    console_width: int | None = None,
    max_record_bytes: int | None = renderers.DEFAULT_MAX_RECORD_BYTES,
    async_output: bool = False,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    overflow: str = "block",
    otel_logs: bool | LoggerProvider = False,
) -> None:
    """Configure logging for the whole process; calling it again replaces the configuration.

    Each option falls back to its ``FLEXT_*`` environment variable, then to the preset
    of *environment* (see ``environment_settings``), then to a built-in default:
    ``format="auto"`` (console on a terminal, JSON otherwise), ``level="INFO"``,
    ``redaction=True``. *stream* defaults to ``sys.stdout``, looked up per record.
    *processors* run after the built-in enrichers, before rendering. With
    *capture_stdlib*, records of the ``logging`` module (root and libraries) go through
    the same pipeline; console handlers already attached to loggers are removed so no
    line is written twice. A process started with ``Serialization.to_env()`` variables adopts
    them: its correlation becomes a child of the parent process's one.

    *redact_keys* are secret names added to the built-in ones (words such as ``"ssn"``,
    or globs such as ``"x-*"``); ``redact_default_keys=False`` makes them the only ones.
    *redact_patterns* are regular expressions whose matches inside string values are
    replaced, in addition to the built-in shapes (JWTs, bearer tokens, card numbers,
    URL user info, secret-named ``name=value`` pairs).
    A JSON or logfmt line longer than *max_record_bytes* is cut to fit (``None``: no
    cap). With *async_output*, lines are written by a background thread through a
    queue of *queue_size* lines; when it is full, *overflow* ``"block"`` waits and
    ``"drop"`` drops and counts. The writer of the previous configuration is closed
    (its queued lines written) when this one is installed.

    With *otel_logs* (``True`` for the global OpenTelemetry ``LoggerProvider``, or a
    provider), every record is also handed to OpenTelemetry's Logs SDK, mapped to its
    log data model, for the exporters configured there (OTLP...); see
    :class:`~flext_logging.outputs.otel.OpenTelemetryOutput`.
    """
    environment = environment or os.environ.get(settings.ENV_ENVIRONMENT) or None
    preset = settings.preset_for(environment)
    chosen_format = (format or os.environ.get(settings.ENV_FORMAT) or preset["format"]).lower()
    if chosen_format not in settings.FORMATS:
        known = ", ".join(settings.FORMATS)
        raise ValueError(f"format must be one of {known}, not {chosen_format!r}")
    min_level = settings.level_number(
        level if level is not None else os.environ.get(settings.ENV_LEVEL) or preset["level"]
    )
    _check_max_record_bytes(max_record_bytes)
    check_options(queue_size, overflow)
    if environment in settings.ENVIRONMENT_PRESETS:
        FlextExceptions.configure_error_handling({"environment": environment})
    context.set_process_defaults(
        service_name=service_name or os.environ.get(settings.ENV_SERVICE_NAME) or None,
        service_version=service_version or os.environ.get(settings.ENV_SERVICE_VERSION) or None,
        environment=environment,
    )
    extra_sinks: list[_pipeline.Sink] = []
    if otel_logs is not False:
        otel = OpenTelemetryOutput(
            None if otel_logs is True else otel_logs, max_record_bytes=max_record_bytes
        )
        extra_sinks.append((otel.renderer, otel))
    pipeline = _pipeline.build_pipeline(
        format=chosen_format,
        stream=stream,
        min_level=min_level,
        log_operations=log_operations,
        redaction=preset["redaction"] if redaction is None else redaction,
        redact_keys=redact_keys,
        redact_default_keys=redact_default_keys,
        redact_patterns=redact_patterns,
        extra_processors=processors,
        console_width=console_width,
        max_record_bytes=max_record_bytes,
        async_output=async_output,
        queue_size=queue_size,
        overflow=overflow,
        extra_sinks=extra_sinks,
    )
    _pipeline.replace(pipeline)
    if capture_stdlib:
        stdlib.route_to_pipeline(min_level)
    # After the pipeline is in place, so an invalid inherited id is reported through it.
    context.inherit_from_environment(os.environ)


def reset() -> None:
    """Undo ``configure()``: default pipeline, stdlib handlers restored, defaults cleared."""
    _pipeline.replace(None)
    reset_failures()
    context.set_process_defaults()
    FlextExceptions.configure_error_handling(ErrorHandlingConfig().to_dict())
    stdlib.restore_stdlib()


def _check_max_record_bytes(max_record_bytes: int | None) -> None:
    if max_record_bytes is not None and (
        isinstance(max_record_bytes, bool)
        or not isinstance(max_record_bytes, int)
        or max_record_bytes < renderers.MIN_MAX_RECORD_BYTES
    ):
        raise ValueError(
            f"max_record_bytes must be None or at least {renderers.MIN_MAX_RECORD_BYTES}, "
            f"not {max_record_bytes!r}"
        )
