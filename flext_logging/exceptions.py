"""Domain errors that carry their own code, context and correlation id, and ``FlextResult``.

``FlextExceptions`` is both a namespace of error classes and a factory:
``raise FlextExceptions("bad email", field="email")`` picks ``ValidationError`` from the
keywords. Every error records the active correlation id, a UTC timestamp and a context
dict, so a log line rendering it explains where it came from.
"""

from __future__ import annotations

import builtins
import datetime
import os
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeAlias

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339
from flext_logging.context import ids, state
from flext_logging.result import FlextResult
from flext_logging.settings import ERROR_HANDLING_PRESETS, ErrorHandlingConfig

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "BaseError",
    "ConfigurationError",
    "ConnectionError",
    "CriticalError",
    "Error",
    "ErrorCodes",
    "ErrorHandlingConfig",
    "FlextExceptions",
    "FlextResult",
    "NotFoundError",
    "OperationError",
    "PermissionError",
    "ProcessingError",
    "TimeoutError",
    "ValidationError",
]


class ErrorCodes:
    """The stable machine-readable code of each error class."""

    ERROR: Final = "FLEXT_ERROR"
    VALIDATION_ERROR: Final = "FLEXT_VALIDATION_ERROR"
    CONFIGURATION_ERROR: Final = "FLEXT_CONFIGURATION_ERROR"
    CONNECTION_ERROR: Final = "FLEXT_CONNECTION_ERROR"
    AUTHENTICATION_ERROR: Final = "FLEXT_AUTHENTICATION_ERROR"
    PERMISSION_ERROR: Final = "FLEXT_PERMISSION_ERROR"
    NOT_FOUND_ERROR: Final = "FLEXT_NOT_FOUND_ERROR"
    ALREADY_EXISTS_ERROR: Final = "FLEXT_ALREADY_EXISTS_ERROR"
    TIMEOUT_ERROR: Final = "FLEXT_TIMEOUT_ERROR"
    PROCESSING_ERROR: Final = "FLEXT_PROCESSING_ERROR"
    OPERATION_ERROR: Final = "FLEXT_OPERATION_ERROR"
    CRITICAL_ERROR: Final = "FLEXT_CRITICAL_ERROR"


# -- Error-handling settings in force: they decide how much of an error a record shows. --

_error_handling = ErrorHandlingConfig()
_metrics: Counter[str] = Counter()
_metrics_lock = threading.Lock()


def current_error_handling() -> ErrorHandlingConfig:
    """Return the settings in force (read by the exception renderer on every record)."""
    return _error_handling


def _coerce_error_handling(config: Mapping[str, Any]) -> ErrorHandlingConfig:
    fields = ErrorHandlingConfig.__dataclass_fields__
    unknown = sorted(str(name) for name in set(config) - set(fields))
    if unknown:
        raise ValueError(f"unknown error-handling settings: {', '.join(unknown)}")
    base = ERROR_HANDLING_PRESETS.get(str(config.get("environment", "")), _error_handling)
    values = {**base.to_dict(), **config}
    for name in ("enable_stack_traces", "show_locals", "enable_metrics"):
        if not isinstance(values[name], bool):
            raise TypeError(f"{name} must be a bool, not {type(values[name]).__name__}")
    for name in ("max_frames", "max_error_details"):
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if not isinstance(values["environment"], str):
        raise TypeError("environment must be a str")
    return ErrorHandlingConfig(**values)


# -- The error classes. ---------------------------------------------------------------


def _restore(cls: type[BaseError], args: tuple[Any, ...], state: dict[str, Any]) -> BaseError:
    """Rebuild a pickled error without running ``__init__`` (no new id, no metric)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class BaseError(Exception):
    """The root of every flext error: message, code, context, correlation id, timestamp."""

    default_code: ClassVar[str] = ErrorCodes.ERROR
    specialised_fields: ClassVar[tuple[str, ...]] = ()
    """Keyword arguments this class stores as attributes and copies into ``context``."""

    message: str
    error_code: str
    context: dict[str, Any]
    correlation_id: str
    timestamp: str

    def __init__(
        self,
        message: str = "",
        *,
        error_code: str | None = None,
        context: Mapping[str, Any] | None = None,
        correlation_id: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message)
        self.message = str(message)
        self.error_code = error_code or self.default_code
        self.context = dict(context) if context else {}
        for name in self.specialised_fields:
            value = fields.pop(name, None)
            setattr(self, name, value)
            if value is not None:
                self.context[name] = value
        # Keywords this class does not know are kept in the context, never lost.
        self.context.update(fields)
        self.correlation_id = (
            (correlation_id if ids.is_valid_id(correlation_id) else None)
            or state.get_one(keys.CORRELATION_ID)
            or f"flext_{os.urandom(8).hex()}"
        )
        self.timestamp = rfc3339(datetime.datetime.now(datetime.timezone.utc))
        if _error_handling.enable_metrics:
            with _metrics_lock:
                _metrics[type(self).__name__] += 1

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, error_code={self.error_code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    def to_dict(self) -> dict[str, Any]:
        """Return the error as a dict: type, message, code, context, correlation id, time."""
        data: dict[str, Any] = {
            "type": type(self).__name__,
            "message": self.message,
            "error_code": self.error_code,
            "context": dict(self.context),
            "correlation_id": self.correlation_id,
            "timestamp": self.timestamp,
        }
        for name in self.specialised_fields:
            data[name] = getattr(self, name)
        return data


class Error(BaseError):
    """A general error that fits no narrower class."""


class ValidationError(BaseError, ValueError):
    """Input failed validation."""

    default_code = ErrorCodes.VALIDATION_ERROR
    specialised_fields = ("field", "value", "validation_details")
    field: str | None
    value: Any
    validation_details: Any


class ConfigurationError(BaseError):
    """Configuration is missing or wrong."""

    default_code = ErrorCodes.CONFIGURATION_ERROR
    specialised_fields = ("config_key", "config_file")
    config_key: str | None
    config_file: str | None


class ConnectionError(BaseError, builtins.ConnectionError):
    """A remote service could not be reached."""

    default_code = ErrorCodes.CONNECTION_ERROR
    specialised_fields = ("service", "endpoint")
    service: str | None
    endpoint: str | None


class AuthenticationError(BaseError, builtins.PermissionError):
    """The caller could not be authenticated."""

    default_code = ErrorCodes.AUTHENTICATION_ERROR
    specialised_fields = ("auth_method",)
    auth_method: str | None


class PermissionError(BaseError, builtins.PermissionError):
    """The caller is authenticated but not allowed."""

    default_code = ErrorCodes.PERMISSION_ERROR
    specialised_fields = ("required_permission",)
    required_permission: str | None


class NotFoundError(BaseError, LookupError):
    """A resource does not exist."""

    default_code = ErrorCodes.NOT_FOUND_ERROR
    specialised_fields = ("resource_id", "resource_type")
    resource_id: str | None
    resource_type: str | None


class AlreadyExistsError(BaseError):
    """A resource exists already."""

    default_code = ErrorCodes.ALREADY_EXISTS_ERROR
    specialised_fields = ("resource_id", "resource_type")
    resource_id: str | None
    resource_type: str | None


class TimeoutError(BaseError, builtins.TimeoutError):
    """An operation took longer than allowed."""

    default_code = ErrorCodes.TIMEOUT_ERROR
    specialised_fields = ("timeout_seconds",)
    timeout_seconds: float | None


class ProcessingError(BaseError):
    """Processing of data failed."""

    default_code = ErrorCodes.PROCESSING_ERROR


class OperationError(BaseError):
    """A named operation failed."""

    default_code = ErrorCodes.OPERATION_ERROR
    specialised_fields = ("operation",)
    operation: str | None


class CriticalError(BaseError):
    """A failure the service cannot continue from."""

    default_code = ErrorCodes.CRITICAL_ERROR


# The factory's choice, in order: the first class one of whose keywords is given wins.
SELECTION_ORDER: Final[tuple[tuple[tuple[str, ...], type[BaseError]], ...]] = (
    (("field", "value", "validation_details"), ValidationError),
    (("config_key", "config_file"), ConfigurationError),
    (("operation",), OperationError),
    (("service", "endpoint"), ConnectionError),
    (("timeout_seconds",), TimeoutError),
    (("resource_id", "resource_type"), NotFoundError),
    (("auth_method",), AuthenticationError),
    (("required_permission",), PermissionError),
)


class FlextExceptions:
    """Namespace of the flext error classes; calling it picks a class by keyword.

    ``field``/``value``/``validation_details`` -> ``ValidationError``;
    ``config_key``/``config_file`` -> ``ConfigurationError``; ``operation`` ->
    ``OperationError``; ``service``/``endpoint`` -> ``ConnectionError``;
    ``timeout_seconds`` -> ``TimeoutError``; ``resource_id``/``resource_type`` ->
    ``NotFoundError``; ``auth_method`` -> ``AuthenticationError``;
    ``required_permission`` -> ``PermissionError``; otherwise ``Error``. The first
    match in that order wins; other keywords land in the error's ``context``.
    """

    # __new__ returns an error instance, not a FlextExceptions: the namespace is never
    # instantiated, and type checkers take the annotated return type at call sites.
    def __new__(cls, message: str = "", **kwargs: Any) -> BaseError:  # type: ignore[misc]
        chosen: type[BaseError] = Error
        for keywords, error_class in SELECTION_ORDER:
            if any(name in kwargs for name in keywords):
                chosen = error_class
                break
        return chosen(message, **kwargs)

    ErrorCodes: TypeAlias = ErrorCodes
    BaseError: TypeAlias = BaseError
    Error: TypeAlias = Error
    ValidationError: TypeAlias = ValidationError
    ConfigurationError: TypeAlias = ConfigurationError
    ConnectionError: TypeAlias = ConnectionError
    AuthenticationError: TypeAlias = AuthenticationError
    PermissionError: TypeAlias = PermissionError
    NotFoundError: TypeAlias = NotFoundError
    AlreadyExistsError: TypeAlias = AlreadyExistsError
    TimeoutError: TypeAlias = TimeoutError
    ProcessingError: TypeAlias = ProcessingError
    OperationError: TypeAlias = OperationError
    CriticalError: TypeAlias = CriticalError

    @staticmethod
    def get_metrics() -> dict[str, int]:
        """Return how many errors of each class were created since the last clear."""
        with _metrics_lock:
            return dict(_metrics)

    @staticmethod
    def clear_metrics() -> None:
        """Reset the per-class error counts."""
        with _metrics_lock:
            _metrics.clear()

    @staticmethod
    def configure_error_handling(config: Mapping[str, Any]) -> FlextResult[dict[str, Any]]:
        """Apply error-handling settings (see ``ErrorHandlingConfig``); unknown keys fail.

        Settings missing from *config* come from the preset of its ``environment``
        (when given), else from the settings in force.
        """
        global _error_handling  # noqa: PLW0603 - the one place these settings change
        if not isinstance(config, Mapping):
            return FlextResult.fail(f"config must be a mapping, not {type(config).__name__}")
        try:
            new = _coerce_error_handling(config)
        except (TypeError, ValueError) as exc:
            return FlextResult.fail(str(exc))
        _error_handling = new
        return FlextResult.ok(new.to_dict())

    @staticmethod
    def get_error_handling_config() -> FlextResult[dict[str, Any]]:
        """Return the error-handling settings in force."""
        return FlextResult.ok(_error_handling.to_dict())

    @staticmethod
    def create_environment_specific_config(environment: str) -> FlextResult[dict[str, Any]]:
        """Return the error-handling preset of *environment*, without applying it."""
        preset = ERROR_HANDLING_PRESETS.get(environment) if isinstance(environment, str) else None
        if preset is None:
            known = ", ".join(sorted(ERROR_HANDLING_PRESETS))
            return FlextResult.fail(f"unknown environment {environment!r}; expected one of {known}")
        return FlextResult.ok(preset.to_dict())
