"""Which values may name work (the id grammar), new ids, and reporting a value that was dropped.

Every id a record carries was validated here first: a value received from a caller, an
environment variable or user code that does not fit is dropped, never written, and
reported through the hook the logging pipeline registers (:func:`on_id_dropped`).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping
from typing import Final

from flext_logging import keys

__all__ = [
    "ID_KEYS",
    "MAX_ID_LENGTH",
    "is_valid_id",
    "new_id",
    "on_id_dropped",
    "rejection_reason",
    "report_dropped",
    "usable",
    "validated",
]

MAX_ID_LENGTH: Final = 128
_ID_CHARACTERS: Final = string.ascii_letters + string.digits + "._:-"

ID_KEYS: Final = frozenset(
    {
        keys.CORRELATION_ID,
        keys.PARENT_CORRELATION_ID,
        keys.TRACE_ID,
        keys.SPAN_ID,
        keys.REQUEST_ID,
    }
)
"""Fields that must match the id grammar (``[A-Za-z0-9._:-]``, at most 128 characters)."""

_PREVIEW_LENGTH: Final = 48


def is_valid_id(value: object) -> bool:
    """Tell whether *value* is a usable id: 1-128 characters of ``[A-Za-z0-9._:-]``."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and not value.strip(_ID_CHARACTERS)  # empty only when every character is allowed
    )


def usable(key: str, value: object) -> bool:
    """Tell whether *value* may be the context's *key*: an id for id keys, else a name."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        return False
    if key in ID_KEYS:
        return not value.strip(_ID_CHARACTERS)
    # Rejects control characters, line separators and invisible format characters.
    return value.isprintable()


def rejection_reason(key: str, value: object) -> str:
    """Say why :func:`usable` refused *value* for *key*."""
    if not isinstance(value, str):
        return f"not a string but {type(value).__name__}"
    if not value:
        return "empty"
    if len(value) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if key in ID_KEYS:
        return "characters outside [A-Za-z0-9._:-]"
    return "control characters"


def new_id() -> str:
    """Return a new 32-hex-digit id for a correlation or request."""
    # Unique, not secret: ids name work, they grant nothing. The random module reseeds
    # after fork, so forked workers never repeat each other's ids.
    return "%032x" % random.getrandbits(128)  # noqa: UP031 - fastest 128-bit hex


DroppedHook = Callable[[Mapping[str, str]], None]
"""Receives the fields of one ``invalid_context_id_dropped`` record."""

_on_dropped: DroppedHook | None = None


def on_id_dropped(hook: DroppedHook | None) -> None:
    """Register who writes the record of a dropped value (the logging pipeline does)."""
    global _on_dropped  # noqa: PLW0603 - the one hook of this layer, set by the layer above
    _on_dropped = hook


def report_dropped(key: str, value: object, source: str, reason: str | None = None) -> None:
    """Report that *value* was refused for *key*; only a bounded ASCII preview is shown."""
    hook = _on_dropped
    if hook is None:
        return
    preview = ascii(value)[:_PREVIEW_LENGTH] if isinstance(value, str) else type(value).__name__
    hook(
        {
            "field": key,
            "source": source,
            "reason": reason or rejection_reason(key, value),
            "value_preview": preview,
        }
    )


def validated(changes: Mapping[str, object], source: str) -> dict[str, str | None]:
    """Keep the usable values of *changes*; report and drop the others. ``None`` passes."""
    clean: dict[str, str | None] = {}
    for key, value in changes.items():
        if value is None or usable(key, value):
            clean[key] = value  # type: ignore[assignment]  # narrowed by usable()
        else:
            report_dropped(key, value, source)
    return clean
