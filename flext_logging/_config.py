"""``configure()``: the one place the logging configuration of a process is decided.

It builds a :class:`~flext_logging._pipeline.Pipeline` from explicit arguments,
``FLEXT_*`` environment variables and the environment's preset (in that order of
precedence), makes it active, and routes the standard ``logging`` module through it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any, Final

from flext_logging import _pipeline, context, keys, processors, renderers, stdlib
from flext_logging.exceptions import ErrorHandlingConfig, FlextExceptions
from flext_logging.result import FlextResult

__all__ = ["FORMATS", "configure", "default_pipeline", "environment_settings", "reset"]

FORMATS: Final = ("auto", "json", "console", "logfmt")
ENV_FORMAT: Final = "FLEXT_LOG_FORMAT"
ENV_LEVEL: Final = "FLEXT_LOG_LEVEL"
ENV_SERVICE_NAME: Final = keys.ENV_SERVICE_NAME
ENV_SERVICE_VERSION: Final = keys.ENV_SERVICE_VERSION
ENV_ENVIRONMENT: Final = keys.ENV_ENVIRONMENT

# What each deployment environment changes; error handling comes from FlextExceptions.
_ENVIRONMENT_PRESETS: Final[dict[str, dict[str, Any]]] = {
    "development": {"format": "console", "level": "DEBUG", "redaction": True},
    "test": {"format": "json", "level": "DEBUG", "redaction": True},
    "staging": {"format": "json", "level": "INFO", "redaction": True},
    "production": {"format": "json", "level": "INFO", "redaction": True},
}
_BUILTIN: Final[dict[str, Any]] = {"format": "auto", "level": "INFO", "redaction": True}


def environment_settings(environment: str) -> FlextResult[dict[str, Any]]:
    """Return the settings ``configure(environment=...)`` applies for *environment*.

    The result holds ``format``, ``level``, ``redaction`` and ``error_handling`` (the
    traceback detail, see :class:`~flext_logging.exceptions.ErrorHandlingConfig`).
    """
    preset = _ENVIRONMENT_PRESETS.get(environment) if isinstance(environment, str) else None
    if preset is None:
        known = ", ".join(sorted(_ENVIRONMENT_PRESETS))
        return FlextResult.fail(f"unknown environment {environment!r}; expected one of {known}")
    error_handling = FlextExceptions.create_environment_specific_config(environment).value
    return FlextResult.ok({"environment": environment, **preset, "error_handling": error_handling})


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
    redact_patterns: Iterable[str | re.Pattern[str]] = (),
    processors: Sequence[_pipeline.Processor] = (),
    capture_stdlib: bool = True,
    console_width: int | None = None,
    max_record_bytes: int | None = renderers.DEFAULT_MAX_RECORD_BYTES,
    async_output: bool = False,
    queue_size: int = _pipeline.DEFAULT_QUEUE_SIZE,
    overflow: str = "block",
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

    *redact_patterns* are regular expressions whose matches inside string values are
    replaced, in addition to the built-in shapes (JWTs, bearer tokens, card numbers).
    A JSON or logfmt line longer than *max_record_bytes* is cut to fit (``None``: no
    cap). With *async_output*, lines are written by a background thread through a
    queue of *queue_size* lines; when it is full, *overflow* ``"block"`` waits and
    ``"drop"`` drops and counts. The writer of the previous configuration is closed
    (its queued lines written) when this one is installed.
    """
    environment = environment or os.environ.get(ENV_ENVIRONMENT) or None
    preset = _ENVIRONMENT_PRESETS.get(environment or "", _BUILTIN)
    chosen_format = (format or os.environ.get(ENV_FORMAT) or preset["format"]).lower()
    if chosen_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {chosen_format!r}")
    min_level = _level_number(
        level if level is not None else os.environ.get(ENV_LEVEL) or preset["level"]
    )
    _check_output_options(max_record_bytes, queue_size, overflow)
    if environment in _ENVIRONMENT_PRESETS:
        FlextExceptions.configure_error_handling({"environment": environment})
    context.set_process_defaults(
        service_name=service_name or os.environ.get(ENV_SERVICE_NAME) or None,
        service_version=service_version or os.environ.get(ENV_SERVICE_VERSION) or None,
        environment=environment,
    )
    pipeline = build_pipeline(
        format=chosen_format,
        stream=stream,
        min_level=min_level,
        log_operations=log_operations,
        redaction=preset["redaction"] if redaction is None else redaction,
        redact_keys=redact_keys,
        redact_patterns=redact_patterns,
        extra_processors=processors,
        console_width=console_width,
        max_record_bytes=max_record_bytes,
        async_output=async_output,
        queue_size=queue_size,
        overflow=overflow,
    )
    _pipeline.replace(pipeline)
    if capture_stdlib:
        stdlib.route_to_pipeline(min_level)
    # After the pipeline is in place, so an invalid inherited id is reported through it.
    context.inherit_from_environment(os.environ)


def build_pipeline(
    *,
    format: str = "auto",  # noqa: A002 - mirrors configure()
    stream: IO[Any] | None = None,
    min_level: int = logging.INFO,
    log_operations: bool = True,
    redaction: bool = True,
    redact_keys: Iterable[str] | None = None,
    redact_patterns: Iterable[str | re.Pattern[str]] = (),
    extra_processors: Sequence[_pipeline.Processor] = (),
    console_width: int | None = None,
    max_record_bytes: int | None = renderers.DEFAULT_MAX_RECORD_BYTES,
    async_output: bool = False,
    queue_size: int = _pipeline.DEFAULT_QUEUE_SIZE,
    overflow: str = "block",
) -> _pipeline.Pipeline:
    """Assemble the processor chain, renderer and writer for one configuration."""
    if format == "auto":
        format = "console" if _is_terminal(stream) else "json"  # noqa: A001
    chain: list[_pipeline.Processor] = [processors.add_context, processors.add_opentelemetry_ids]
    chain.append(processors.add_exception if format == "console" else processors.add_error)
    chain.append(processors.add_stack)
    redactor = None
    if redaction:
        keys_to_redact = processors.DEFAULT_REDACT_KEYS if redact_keys is None else redact_keys
        redactor = processors.Redactor(keys_to_redact, redact_patterns=redact_patterns)
        chain.append(redactor)
    chain.extend(extra_processors)
    renderer: _pipeline.Processor
    if format == "console":
        renderer = renderers.ConsoleRenderer(stream, width=console_width, redactor=redactor)
    elif format == "logfmt":
        renderer = renderers.LogfmtRenderer(max_record_bytes=max_record_bytes)
    else:
        renderer = renderers.JSONRenderer(max_record_bytes=max_record_bytes)
    writer: _pipeline.Writer = _pipeline.StreamWriter(stream)
    if async_output:
        writer = _pipeline.AsyncWriter(
            _pipeline.StreamWriter(stream), queue_size=queue_size, overflow=overflow
        )
    return _pipeline.Pipeline(
        chain,
        renderer,
        writer,
        min_level=min_level,
        log_operations=log_operations,
    )


def default_pipeline() -> _pipeline.Pipeline:
    """The pipeline in force before ``configure()``: environment variables, else defaults."""
    environment = os.environ.get(ENV_ENVIRONMENT) or ""
    preset = _ENVIRONMENT_PRESETS.get(environment, _BUILTIN)
    chosen_format = (os.environ.get(ENV_FORMAT) or preset["format"]).lower()
    try:
        min_level = _level_number(os.environ.get(ENV_LEVEL) or preset["level"])
    except ValueError:
        min_level = logging.INFO  # a bad variable must not stop the first log line
    return build_pipeline(
        format=chosen_format if chosen_format in FORMATS else "json",
        min_level=min_level,
    )


def reset() -> None:
    """Undo ``configure()``: default pipeline, stdlib handlers restored, defaults cleared."""
    _pipeline.replace(None)
    _pipeline.reset_failures()
    context.set_process_defaults()
    FlextExceptions.configure_error_handling(ErrorHandlingConfig().to_dict())
    stdlib.restore_stdlib()


def _check_output_options(max_record_bytes: int | None, queue_size: int, overflow: str) -> None:
    if max_record_bytes is not None and (
        isinstance(max_record_bytes, bool)
        or not isinstance(max_record_bytes, int)
        or max_record_bytes < renderers.MIN_MAX_RECORD_BYTES
    ):
        raise ValueError(
            f"max_record_bytes must be None or at least {renderers.MIN_MAX_RECORD_BYTES}, "
            f"not {max_record_bytes!r}"
        )
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size must be a positive integer, not {queue_size!r}")
    if overflow not in _pipeline.OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")


def _level_number(level: int | str) -> int:
    if isinstance(level, bool):
        raise TypeError("level must be a level name or number, not a bool")
    if isinstance(level, int):
        return level
    if isinstance(level, str):
        name = level.strip().upper()
        if name.isdigit():
            return int(name)
        number = logging.getLevelName(name)
        if name == "WARN":
            return logging.WARNING
        if isinstance(number, int):
            return number
    raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING, ERROR or CRITICAL")


def _is_terminal(stream: IO[Any] | None) -> bool:
    target = stream if stream is not None else sys.stdout
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError):
        return False
