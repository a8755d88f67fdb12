"""Turn any exception into bounded, JSON-safe data.

This is extraction only; renderers decide how the data looks. Frames are read straight
from the traceback objects (no source lines, no ``inspect``), so rendering an error
costs little more than walking its frames. Sizes are bounded by
:class:`~flext_logging.exceptions.ErrorHandlingConfig`.
"""

from __future__ import annotations

import builtins
import sys
import traceback
from types import FrameType, TracebackType
from typing import Any, Final

from flext_logging import keys
from flext_logging._jsonsafe import safe_repr, to_json_safe, truncate
from flext_logging.exceptions import BaseError, ErrorHandlingConfig, current_error_handling

__all__ = ["ExcInfo", "exception_data", "resolve_exc_info", "stack_text"]

MAX_CHAIN: Final = 8
"""How many linked exceptions (cause, context, group members) are followed."""
MAX_GROUP_MEMBERS: Final = 10
MAX_LOCAL_STRING: Final = 200
MAX_NOTES: Final = 20

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_BaseExceptionGroup: type[BaseException] | None = getattr(builtins, "BaseExceptionGroup", None)


def resolve_exc_info(value: object) -> BaseException | None:
    """Return the exception an ``exc_info=`` argument designates, if any.

    Accepts ``True`` (the exception being handled), an exception instance, or a
    ``sys.exc_info()`` tuple; anything else designates none.
    """
    if value is None or value is False:
        return None
    if isinstance(value, BaseException):
        return value
    if isinstance(value, tuple):
        return value[1] if len(value) == 3 and isinstance(value[1], BaseException) else None
    if value is True:
        return sys.exc_info()[1]
    return None


def exception_data(
    exc: BaseException, settings: ErrorHandlingConfig | None = None
) -> dict[str, Any]:
    """Return *exc* as data: type, message, stack, and for flext errors code and context.

    Chained exceptions appear under ``cause`` (``raise ... from``) or ``during``
    (raised while handling another); groups list their members under ``exceptions``.
    """
    settings = settings or current_error_handling()
    return _describe(exc, settings, set(), MAX_CHAIN)


def _describe(
    exc: BaseException, settings: ErrorHandlingConfig, seen: set[int], budget: int
) -> dict[str, Any]:
    seen.add(id(exc))
    limit = settings.max_error_details
    data: dict[str, Any] = {
        keys.ERROR_TYPE_NAME: _qualified_name(type(exc)),
        keys.ERROR_MESSAGE: _message(exc, limit),
    }
    if isinstance(exc, BaseError):
        data[keys.ERROR_CODE] = exc.error_code
        data[keys.ERROR_CONTEXT] = to_json_safe(exc.context, max_string=limit)
        data[keys.ERROR_CORRELATION_ID] = exc.correlation_id
    notes = _notes(exc, limit)
    if notes:
        data[keys.ERROR_NOTES] = notes
    if settings.enable_stack_traces:
        frames, omitted = _frames(exc.__traceback__, settings)
        data[keys.ERROR_STACK] = frames
        if omitted:
            data[keys.ERROR_TRUNCATED_FRAMES] = omitted
    if budget <= 0:
        return data
    if _BaseExceptionGroup is not None and isinstance(exc, _BaseExceptionGroup):
        members = exc.exceptions  # type: ignore[attr-defined]  # BaseExceptionGroup, 3.11+
        data[keys.ERROR_GROUP] = [
            _describe(member, settings, seen, budget - 1)
            for member in members[:MAX_GROUP_MEMBERS]
            if id(member) not in seen
        ]
    cause = exc.__cause__
    if cause is not None and id(cause) not in seen:
        data[keys.ERROR_CAUSE] = _describe(cause, settings, seen, budget - 1)
    elif (
        exc.__context__ is not None
        and not exc.__suppress_context__
        and id(exc.__context__) not in seen
    ):
        data[keys.ERROR_CONTEXT_EXCEPTION] = _describe(exc.__context__, settings, seen, budget - 1)
    return data


def _qualified_name(cls: type[BaseException]) -> str:
    module = getattr(cls, "__module__", "")
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "", None) else f"{module}.{name}"


def _message(exc: BaseException, limit: int) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ still yields a usable record
        return safe_repr(exc, limit)
    return truncate(text, limit)


def _notes(exc: BaseException, limit: int) -> list[str]:
    # add_note() keeps strings in __notes__, but any code can assign it: read it warily.
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, (list, tuple)):
        return []
    return [
        truncate(note, limit) if isinstance(note, str) else safe_repr(note, limit)
        for note in notes[:MAX_NOTES]
    ]


def _frames(
    tb: TracebackType | None, settings: ErrorHandlingConfig
) -> tuple[list[dict[str, Any]], int]:
    frames = []
    while tb is not None:
        frames.append(_frame(tb.tb_frame, tb.tb_lineno, settings.show_locals))
        tb = tb.tb_next
    # The innermost frames say where it went wrong; keep those when there are too many.
    omitted = max(len(frames) - settings.max_frames, 0)
    return frames[omitted:], omitted


def _frame(frame: FrameType, lineno: int | None, show_locals: bool) -> dict[str, Any]:
    code = frame.f_code
    data: dict[str, Any] = {
        keys.FRAME_FILE: code.co_filename,
        keys.FRAME_LINE: lineno,
        keys.FRAME_FUNCTION: getattr(code, "co_qualname", code.co_name),
    }
    if show_locals:
        data[keys.FRAME_LOCALS] = {
            str(name): safe_repr(value, MAX_LOCAL_STRING)
            for name, value in list(frame.f_locals.items())[:50]
        }
    return data


def stack_text(frame: FrameType | None, max_frames: int) -> str:
    """Format the call stack ending at *frame* as ``logging`` formats ``stack_info``."""
    summary = traceback.extract_stack(frame, limit=max_frames)
    return "Stack (most recent call last):\n" + "".join(traceback.format_list(summary)).rstrip("\n")
