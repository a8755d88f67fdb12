"""``configure()``: the one place the logging configuration of a process is decided.

It decides every setting from explicit arguments, ``FLEXT_*`` environment variables and
the environment's preset (in that order of precedence, see :mod:`flext_logging.settings`),
builds a :class:`~flext_logging._pipeline.Pipeline` from them, makes it active, and
routes the standard ``logging`` module through it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

from flext_logging import (
    _pipeline,
    context,
    presets,
    renderers,
    settings,
    stdlib,
    structlog_bridge,
)
from flext_logging import processors as enrichers
from flext_logging.exceptions import FlextExceptions
from flext_logging.outputs import FileOutput, LoggingOutput, Output, StreamOutput, reset_failures
from flext_logging.outputs.background import DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_SIZE, check_options
from flext_logging.outputs.clickhouse import ClickHouseOutput
from flext_logging.outputs.otel import OpenTelemetryOutput
from flext_logging.settings import ErrorHandlingConfig

if TYPE_CHECKING:
    from opentelemetry._logs import LoggerProvider

__all__ = ["configure", "is_configured", "reset"]

_configured = False


def configure(
    *,
    format: str | None = None,  # noqa: A002 - the natural name of the option
    level: int | str | None = None,
    stream: IO[Any] | None = None,
    outputs: Sequence[Output] | None = None,
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
    capture_structlog: bool = True,
    levels: Mapping[str, int | str] | None = None,
    console_width: int | None = None,
    console_verbose: bool = False,
    max_record_bytes: int | None = renderers.DEFAULT_MAX_RECORD_BYTES,
    async_output: bool = False,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    queue_bytes: int = DEFAULT_QUEUE_BYTES,
    overflow: str = "block",
    otel_logs: bool | LoggerProvider = False,
    schema: str | None = None,
    gcp_project: str | None = None,
    clickhouse: ClickHouseOutput | None = None,
) -> None:
    """Configure logging for the whole process; calling it again replaces the configuration.

    Each option falls back to its ``FLEXT_*`` environment variable, then to the preset
    of *environment* (see ``environment_settings``), then to a built-in default:
    ``format="auto"`` (console on a terminal, JSON otherwise), ``level="INFO"``,
    ``redaction=True``. *stream* defaults to ``sys.stdout``, looked up per record.
    *outputs* replaces *stream* with several destinations, each a ``StreamOutput``,
    ``FileOutput`` or ``LoggingOutput`` with its own ``format`` and ``level`` (else
    *format* and *level* apply); ``FLEXT_LOG_OUTPUTS`` names them when neither is given.
    *processors* (structlog's signature) run after the built-in enrichers and before
    redaction and rendering; they see the message as ``event`` and ``exc_info`` as
    given, as in structlog; one that renders (``JSONRenderer()``, ...) raises
    ``ValueError`` here. *levels* maps dotted logger names to levels
    (``{"sqlalchemy.engine": "WARNING", "myapp.payments": "DEBUG"}``, also
    ``FLEXT_LOG_LEVELS``): each applies to that logger and those below it, ours and the
    ``logging`` module's. With *capture_stdlib*, records of the ``logging`` module
    (root and libraries) go through the same pipeline; console handlers already
    attached to loggers are removed so no line is written twice; other handlers
    (files, pytest's capture, OpenTelemetry) stay and receive the records of
    ``get_logger()`` loggers too. With *capture_structlog*, ``structlog.get_logger()``
    returns loggers that write through the same pipeline. A process started with
    ``Serialization.to_env()`` variables adopts them: its correlation becomes a child of
    the parent process's one.

    *redact_keys* are secret names added to the built-in ones (words such as ``"ssn"``,
    or globs such as ``"x-*"``); ``redact_default_keys=False`` makes them the only ones.
    *redact_patterns* are regular expressions whose matches inside string values are
    replaced, in addition to the built-in shapes (JWTs, bearer tokens, card numbers,
    URL user info, secret-named ``name=value`` pairs).
    A JSON or logfmt line longer than *max_record_bytes* is cut to fit (``None``: no
    cap). With *async_output*, lines are written by a background thread through a
    queue of at most *queue_size* lines and *queue_bytes* bytes of memory; when it is
    full, *overflow* ``"block"`` waits and ``"drop"`` drops and counts. The writer of
    the previous configuration is closed (its queued lines written) when this one is
    installed.

    With *otel_logs* (``True`` for the global OpenTelemetry ``LoggerProvider``, or a
    provider), every record is also handed to OpenTelemetry's Logs SDK, mapped to its
    log data model, for the exporters configured there (OTLP...); see
    :class:`~flext_logging.outputs.otel.OpenTelemetryOutput`.

    *schema* (``FLEXT_LOG_SCHEMA``) writes JSON under the field names an aggregator
    expects: ``"flat"`` (ours, the default), ``"ecs"``, ``"gcp"``, ``"datadog"`` or
    ``"otel"``; a preset implies JSON output. *gcp_project* (``GOOGLE_CLOUD_PROJECT``)
    makes ``gcp`` trace names that link to Cloud Trace. *clickhouse* (a
    :class:`~flext_logging.outputs.clickhouse.ClickHouseOutput`) also sends every record
    to a ClickHouse table, in batches, from its own thread (see docs/clickhouse.md).
    """
    environment = environment or os.environ.get(settings.ENV_ENVIRONMENT) or None
    preset = settings.preset_for(environment)
    explicit_format = format or os.environ.get(settings.ENV_FORMAT)
    chosen_format = (explicit_format or preset["format"]).lower()
    if chosen_format not in settings.FORMATS:
        known = ", ".join(settings.FORMATS)
        raise ValueError(f"format must be one of {known}, not {chosen_format!r}")
    chosen_schema = settings.schema_choice(
        schema, chosen_format, explicit_format=bool(explicit_format)
    )
    if chosen_schema != presets.FLAT:
        chosen_format = "json"
    min_level = settings.level_number(
        level if level is not None else os.environ.get(settings.ENV_LEVEL) or preset["level"]
    )
    if levels is not None:
        per_logger = settings.logger_levels(levels)
    else:
        per_logger = settings.parse_logger_levels(os.environ.get(settings.ENV_LEVELS, ""))
    _check_max_record_bytes(max_record_bytes)
    enrichers.adapted_processors(processors)  # a processor that cannot work fails here
    check_options(queue_size, overflow, queue_bytes)
    chosen_outputs = _outputs(outputs, stream)
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
    if clickhouse is not None:
        if not isinstance(clickhouse, ClickHouseOutput):
            raise TypeError(f"clickhouse must be a ClickHouseOutput, not {clickhouse!r}")
        extra_sinks.append((clickhouse.renderer, clickhouse))
    hands_over = any(isinstance(output, LoggingOutput) for output in chosen_outputs)
    pipeline = _pipeline.build_pipeline(
        format=chosen_format,
        outputs=chosen_outputs,
        min_level=min_level,
        log_operations=log_operations,
        redaction=preset["redaction"] if redaction is None else redaction,
        redact_keys=redact_keys,
        redact_default_keys=redact_default_keys,
        redact_patterns=redact_patterns,
        extra_processors=processors,
        console_width=console_width,
        console_verbose=console_verbose,
        max_record_bytes=max_record_bytes,
        async_output=async_output,
        queue_size=queue_size,
        queue_bytes=queue_bytes,
        overflow=overflow,
        extra_sinks=extra_sinks,
        to_root_handlers=capture_stdlib and not hands_over,
        schema=chosen_schema,
        gcp_project=gcp_project or os.environ.get(settings.ENV_GCP_PROJECT) or None,
    )
    global _configured  # noqa: PLW0603 - the one flag of the process
    _configured = True
    _pipeline.replace(pipeline)
    _apply_levels(per_logger)
    if capture_stdlib:
        stdlib.route_to_pipeline(pipeline.min_level, keep_handlers=hands_over)
    if capture_structlog:
        structlog_bridge.route_structlog()
    else:
        structlog_bridge.restore_structlog()
    # After the pipeline is in place, so an invalid inherited id is reported through it.
    context.inherit_from_environment(os.environ)


def is_configured() -> bool:
    """Tell whether ``configure()`` has run in this process (and ``reset()`` not since)."""
    return _configured


def reset() -> None:
    """Undo ``configure()``: default pipeline, stdlib handlers restored, defaults cleared."""
    global _configured  # noqa: PLW0603 - the one flag of the process
    _configured = False
    _pipeline.replace(None)
    reset_failures()
    context.set_process_defaults()
    FlextExceptions.configure_error_handling(ErrorHandlingConfig().to_dict())
    stdlib.restore_stdlib()
    structlog_bridge.restore_structlog()
    _apply_levels({})


# The level each logger named in levels= had before configure() set it.
_levels_before: dict[str, int] = {}


def _apply_levels(levels: Mapping[str, int]) -> None:
    """Set the per-logger levels on the ``logging`` loggers, undoing the previous ones."""
    for name, before in _levels_before.items():
        logging.getLogger(name).setLevel(before)
    _levels_before.clear()
    for name, number in levels.items():
        logger = logging.getLogger(name)
        _levels_before[name] = logger.level
        logger.setLevel(number)


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


def _outputs(outputs: Sequence[Output] | None, stream: IO[Any] | None) -> list[Output]:
    """The outputs asked for: the argument, the stream shorthand, else FLEXT_LOG_OUTPUTS."""
    if outputs is not None and stream is not None:
        raise ValueError("pass either stream= (one output) or outputs=, not both")
    if outputs is None:
        variable = os.environ.get(settings.ENV_OUTPUTS) if stream is None else None
        return _outputs_from_variable(variable) if variable else [StreamOutput(stream)]
    if isinstance(outputs, (str, bytes)) or not outputs:
        raise ValueError(
            "outputs must be a non-empty list of StreamOutput, FileOutput, LoggingOutput"
        )
    chosen = list(outputs)
    for output in chosen:
        if Output not in type(output).__mro__:  # outputs subclass the protocol explicitly
            raise TypeError(
                f"outputs must hold StreamOutput, FileOutput or LoggingOutput, not {output!r}"
            )
        own_format = None if isinstance(output, LoggingOutput) else output.format
        if own_format is not None and own_format.lower() not in settings.FORMATS:
            known = ", ".join(settings.FORMATS)
            raise ValueError(f"format must be one of {known}, not {own_format!r}")
        if output.level is not None:
            settings.level_number(output.level)  # a typo fails here, not at the first record
        own_schema = getattr(output, "schema", None)
        if own_schema is not None:
            settings.schema_choice(own_schema, (own_format or "json").lower(), explicit_format=True)
    return chosen


def _outputs_from_variable(text: str) -> list[Output]:
    """Parse ``FLEXT_LOG_OUTPUTS``: ``stdout``, ``stderr``, ``logging``, ``file:PATH``."""
    chosen: list[Output] = []
    for item in (part.strip() for part in text.split(",")):
        kind, _, argument = item.partition(":")
        kind = kind.strip().lower()
        if kind == "stdout" and not argument:
            chosen.append(StreamOutput())
        elif kind == "stderr" and not argument:
            chosen.append(StreamOutput(sys.stderr))
        elif kind == "logging" and not argument:
            chosen.append(LoggingOutput())
        elif kind == "file" and argument.strip():
            chosen.append(FileOutput(argument.strip()))
        else:
            raise ValueError(
                f"{settings.ENV_OUTPUTS}: {item!r} is not stdout, stderr, logging or file:PATH"
            )
    return chosen
