"""``FlextResult``: a value or an error, for APIs that report failure without raising."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["FlextResult"]


class FlextResult(Generic[T]):
    """The outcome of an operation: ``ok(value)`` or ``fail(error)``.

    ``FlextResult[dict].ok({...})`` reads as documentation; the subscript has no effect
    at run time. Reading ``value`` of a failure raises, so a failure is never mistaken
    for a ``None`` result.
    """

    __slots__ = ("_error", "_value")

    def __init__(self, value: T | None = None, error: str | None = None) -> None:
        self._value = value
        self._error = error

    @classmethod
    def ok(cls, value: T) -> FlextResult[T]:
        """Return a successful result holding *value*."""
        return cls(value=value)

    @classmethod
    def fail(cls, error: str) -> FlextResult[T]:
        """Return a failed result carrying the *error* message."""
        if not error:
            error = "unknown error"
        return cls(error=str(error))

    @property
    def is_success(self) -> bool:
        """True when the result holds a value."""
        return self._error is None

    success = is_success

    @property
    def is_failure(self) -> bool:
        """True when the result holds an error."""
        return self._error is not None

    failure = is_failure

    @property
    def value(self) -> T:
        """The value of a success; raises ``ValueError`` on a failure."""
        if self._error is not None:
            raise ValueError(f"a failed FlextResult has no value: {self._error}")
        return self._value  # type: ignore[return-value]  # None only when T admits None

    @property
    def error(self) -> str | None:
        """The error message of a failure, ``None`` on a success."""
        return self._error

    def unwrap_or(self, default: T) -> T:
        """Return the value of a success, else *default*."""
        return default if self._error is not None else self.value

    def __repr__(self) -> str:
        if self._error is not None:
            return f"FlextResult.fail({self._error!r})"
        return f"FlextResult.ok({self._value!r})"

    def __bool__(self) -> bool:
        return self.is_success
