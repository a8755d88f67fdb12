"""The settings a configuration is made of: names, variables, presets, parsing.

Plain data and pure functions, at the bottom of the package so that every layer can
read them: ``configure()`` decides from its arguments, then the ``FLEXT_*``
variables, then the preset of the deployment environment; the pipeline in force
before ``configure()`` is built from the variables alone
(:func:`defaults_from_environment`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from flext_logging import keys, presets
from flext_logging.result import FlextResult

__all__ = [
    "ENVIRONMENT_PRESETS",
    "ENV_ENVIRONMENT",
    "ENV_FORMAT",
    "ENV_GCP_PROJECT",
    "ENV_LEVEL",
    "ENV_LEVELS",
    "ENV_OUTPUTS",
    "ENV_SCHEMA",
    "ENV_SERVICE_NAME",
    "ENV_SERVICE_VERSION",
    "ERROR_HANDLING_PRESETS",
    "FORMATS",
    "SCHEMAS",
    "ErrorHandlingConfig",
    "defaults_from_environment",
    "environment_settings",
    "level_number",
    "logger_levels",
    "parse_logger_levels",
    "preset_for",
    "schema_choice",
]

FORMATS: Final = ("auto", "json", "console", "logfmt")
ENV_FORMAT: Final = "FLEXT_LOG_FORMAT"
ENV_LEVEL: Final = "FLEXT_LOG_LEVEL"
ENV_OUTPUTS: Final = "FLEXT_LOG_OUTPUTS"
ENV_LEVELS: Final = "FLEXT_LOG_LEVELS"
"""Per-logger levels: ``sqlalchemy=WARNING,myapp.payments=DEBUG``."""
ENV_SERVICE_NAME: Final = keys.ENV_SERVICE_NAME
ENV_SERVICE_VERSION: Final = keys.ENV_SERVICE_VERSION
ENV_ENVIRONMENT: Final = keys.ENV_ENVIRONMENT
SCHEMAS: Final = presets.SCHEMAS
"""The field-name presets of JSON output: our ``flat`` schema, ``ecs``, ``gcp``, ``datadog``,
``otel`` (see docs/aggregators.md)."""
ENV_SCHEMA: Final = "FLEXT_LOG_SCHEMA"
ENV_GCP_PROJECT: Final = "GOOGLE_CLOUD_PROJECT"
"""The Google Cloud project Cloud Logging trace names are made with, as Google's own
client libraries read it."""


@dataclass(frozen=True)
class ErrorHandlingConfig:
    """How errors are counted and rendered; change it with ``configure_error_handling``."""

    environment: str = "development"
    enable_stack_traces: bool = True
    """Render the ``stack`` of an error; off leaves type, message, code and context."""
    max_frames: int = 50
    """Frames kept per exception (the innermost ones); the rest are counted, not shown."""
    max_error_details: int = 4096
    """Longest string kept in an error's message or context values."""
    show_locals: bool = False
    """Add each frame's local variables (bounded); never on unless asked for."""
    enable_metrics: bool = True
    """Count created errors per class for ``get_metrics()``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


ERROR_HANDLING_PRESETS: Final[Mapping[str, ErrorHandlingConfig]] = {
    "development": ErrorHandlingConfig(environment="development", max_frames=100),
    "test": ErrorHandlingConfig(environment="test", max_frames=100, enable_metrics=True),
    "staging": ErrorHandlingConfig(environment="staging", max_frames=50),
    "production": ErrorHandlingConfig(
        environment="production", max_frames=30, max_error_details=2048
    ),
}
"""The error-handling settings of each deployment environment."""

# What each deployment environment changes; error handling comes from the presets above.
ENVIRONMENT_PRESETS: Final[Mapping[str, Mapping[str, Any]]] = {
    "development": {"format": "console", "level": "DEBUG", "redaction": True},
    "test": {"format": "json", "level": "DEBUG", "redaction": True},
    "staging": {"format": "json", "level": "INFO", "redaction": True},
    "production": {"format": "json", "level": "INFO", "redaction": True},
}
_BUILTIN: Final[Mapping[str, Any]] = {"format": "auto", "level": "INFO", "redaction": True}


def preset_for(environment: str | None) -> Mapping[str, Any]:
    """Return the output preset of *environment*, or the built-in one for any other name."""
    return ENVIRONMENT_PRESETS.get(environment or "", _BUILTIN)


def environment_settings(environment: str) -> FlextResult[dict[str, Any]]:
    """Return the settings ``configure(environment=...)`` applies for *environment*.

    The result holds ``format``, ``level``, ``redaction`` and ``error_handling`` (the
    traceback detail, see :class:`ErrorHandlingConfig`).
    """
    preset = ENVIRONMENT_PRESETS.get(environment) if isinstance(environment, str) else None
    if preset is None:
        known = ", ".join(sorted(ENVIRONMENT_PRESETS))
        return FlextResult.fail(f"unknown environment {environment!r}; expected one of {known}")
    error_handling = ERROR_HANDLING_PRESETS[environment].to_dict()
    return FlextResult.ok({"environment": environment, **preset, "error_handling": error_handling})


def level_number(level: int | str) -> int:
    """Return the ``logging`` number of a level name or number; ``ValueError`` if unknown."""
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


def logger_levels(levels: Mapping[str, int | str]) -> dict[str, int]:
    """Check per-logger levels (dotted logger name -> level); ``ValueError`` if unusable.

    A name applies to that logger and every logger below it (``myapp`` covers
    ``myapp.payments``), as in ``logging``. The root's level is ``level=``, not a name.
    """
    if not isinstance(levels, Mapping):
        raise TypeError(f"levels must be a mapping of logger name to level, not {levels!r}")
    checked: dict[str, int] = {}
    for name, level in levels.items():
        if not isinstance(name, str) or not name.strip(". ") or not name.isprintable():
            raise ValueError(
                f"levels: {name!r} is not a logger name; the root's level is level=..."
            )
        try:
            checked[name.strip()] = level_number(level)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"levels: {name}: {exc}") from None
    return checked


def parse_logger_levels(text: str) -> dict[str, int]:
    """Parse ``FLEXT_LOG_LEVELS``: comma-separated ``name=LEVEL`` pairs; ``ValueError`` if bad."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, equals, level = part.partition("=")
        if not equals:
            raise ValueError(f"{ENV_LEVELS}: {part.strip()!r} is not name=LEVEL")
        pairs[name.strip()] = level.strip()
    return logger_levels(pairs)


def schema_choice(schema: str | None, chosen_format: str, *, explicit_format: bool) -> str:
    """Return the schema preset to use (``flat`` when none is asked for).

    *schema* falls back to ``FLEXT_LOG_SCHEMA``. A preset applies to JSON: it turns
    ``format="auto"`` (or a format that only came from the environment's preset) into
    JSON, and an explicitly chosen console or logfmt format with a preset is an error.
    """
    name = (schema or os.environ.get(ENV_SCHEMA) or presets.FLAT).lower()
    if name not in SCHEMAS:
        raise ValueError(f"schema must be one of {', '.join(SCHEMAS)}, not {name!r}")
    if name != presets.FLAT and explicit_format and chosen_format in ("console", "logfmt"):
        raise ValueError(f"schema {name!r} names JSON fields; it cannot go with {chosen_format}")
    return name


def defaults_from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Return the format, schema and level in force before ``configure()``: the variables,
    else the environment's preset. A bad variable falls back, it never stops a log line."""
    preset = preset_for(environ.get(ENV_ENVIRONMENT))
    explicit = environ.get(ENV_FORMAT)
    chosen_format = (explicit or preset["format"]).lower()
    if chosen_format not in FORMATS:
        chosen_format = "json"
    try:
        min_level = level_number(environ.get(ENV_LEVEL) or preset["level"])
    except ValueError:
        min_level = logging.INFO
    schema = (environ.get(ENV_SCHEMA) or presets.FLAT).lower()
    if schema not in SCHEMAS or (explicit and chosen_format in ("console", "logfmt")):
        schema = presets.FLAT
    if schema != presets.FLAT:
        chosen_format = "json"
    return {
        "format": chosen_format,
        "min_level": min_level,
        "schema": schema,
        "gcp_project": environ.get(ENV_GCP_PROJECT) or None,
    }
