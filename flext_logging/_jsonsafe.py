"""Turn any Python value into JSON-safe data without ever raising.

Used wherever a value leaves the process as JSON: the renderer's fallback, exception
context, ``get_full_context()``, and the redactor, which converts a field to the data
the renderer will write before it looks for secrets in it. Containers are walked with a
depth bound and cycle detection; everything unknown becomes a bounded ``repr``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import math
import sys
import uuid
from collections.abc import Mapping
from typing import Any, Final

MAX_DEPTH: Final = 20
MAX_STRING: Final = 8192
MAX_ITEMS: Final = 1000
TRUNCATION_MARK: Final = "...[truncated]"

_SCALARS: Final = (str, int, float, bool, type(None))
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1


def rfc3339(moment: datetime.datetime) -> str:
    """Format *moment* as RFC 3339 UTC with microseconds and a ``Z``: a fixed width.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    text = moment.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def truncate(text: str, limit: int = MAX_STRING) -> str:
    """Cut *text* to at most *limit* characters, marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATION_MARK):  # no room for the mark: a plain cut keeps the bound
        return text[: max(limit, 0)]
    keep = limit - len(TRUNCATION_MARK)
    return text[:keep] + TRUNCATION_MARK


def safe_repr(value: object, limit: int = MAX_STRING) -> str:
    """Return ``repr(value)``, bounded, or a placeholder if ``__repr__`` itself fails."""
    try:
        text = repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not lose the record
        if isinstance(value, int):  # an int past Python's digit limit, not a broken repr
            return int_text(value)
        return f"<unrepresentable {type(value).__qualname__}: {type(exc).__qualname__}>"
    return truncate(text, limit)


def int_text(value: int) -> str:
    """Return *value* in decimal, or a placeholder past Python's int-to-str digit limit.

    ``str(10**5000)`` raises ``ValueError`` (``sys.set_int_max_str_digits``): the value
    becomes ``<int of 16610 bits>`` so the record it is in survives.
    """
    try:
        return str(int(value))
    except ValueError:
        return f"<int of {value.bit_length()} bits>"


def native(value: object, max_string: int = MAX_STRING) -> Any:
    """Return what *value* stands for in JSON, one step deep; never raises.

    Sets and deques become lists (sets sorted by ``repr``), a dataclass or pydantic
    model the dict of its fields, bytes their text, an enum member its value, an
    exception ``"Type: 'message'"``, anything else a bounded ``repr``. The items of the
    result are not converted: walk them (``to_json_safe`` does). JSON's own types,
    dates and UUIDs are returned as they are.
    """
    try:
        return _native(value, max_string)
    except Exception:  # noqa: BLE001 - a property or __str__ that raises: shown as text
        return safe_repr(value, max_string)


def _native(value: object, max_string: int) -> Any:
    if isinstance(value, (str, float, bool, type(None), Mapping, list, tuple)):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else int_text(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=safe_repr)
    if isinstance(value, collections.deque):
        return list(value)
    if isinstance(value, (datetime.date, datetime.time, uuid.UUID)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return truncate(bytes(value).decode("utf-8", "backslashreplace"), max_string)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseException):
        # As logging and tracebacks show an exception: its type, then its text unquoted.
        return truncate(f"{type(value).__qualname__}: {value}", max_string)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if _is_pydantic_model(value):
        return value.model_dump()  # type: ignore[attr-defined]  # checked just above
    return safe_repr(value, max_string)


def _is_pydantic_model(value: object) -> bool:
    # Without importing pydantic: an application that has models has imported it.
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None)
    return isinstance(base, type) and isinstance(value, base)


def to_json_safe(value: object, *, max_string: int = MAX_STRING) -> Any:
    """Return a copy of *value* made only of dicts, lists, str, int, float, bool and None."""
    return _convert(value, max_string, MAX_DEPTH, set())


def _convert(value: object, max_string: int, depth: int, seen: set[int]) -> Any:
    if isinstance(value, str):
        return truncate(value, max_string)
    if isinstance(value, _SCALARS):
        if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
            return int_text(value)  # JSON encoders reject integers wider than 64 bits
        if isinstance(value, float) and math.isnan(value):  # NaN is not JSON
            return "NaN"
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return str(value)
        return value
    if depth <= 0:
        return safe_repr(value, 200)
    if isinstance(value, (Mapping, list, tuple, set, frozenset, collections.deque)):
        marker = id(value)
        if marker in seen:
            return f"<cycle {type(value).__qualname__}>"
        seen.add(marker)
        try:
            if isinstance(value, Mapping):
                return {
                    _key(k): _convert(v, max_string, depth - 1, seen)
                    for k, v in _bounded(value.items())
                }
            items = native(value, max_string)
            return [_convert(v, max_string, depth - 1, seen) for v in _bounded(items)]
        except Exception:  # noqa: BLE001 - a container that fails to iterate is shown as text
            return safe_repr(value, max_string)
        finally:
            seen.discard(marker)
    try:
        return _leaf(value, max_string, depth, seen)
    except Exception:  # noqa: BLE001 - e.g. an exception whose __str__ raises
        return safe_repr(value, max_string)


def _bounded(items: Any) -> list[Any]:
    out = []
    for index, item in enumerate(items):
        if index >= MAX_ITEMS:
            break
        out.append(item)
    return out


def _key(key: object) -> str:
    return key if isinstance(key, str) else safe_repr(key, 200)


def _leaf(value: object, max_string: int, depth: int, seen: set[int]) -> Any:
    if isinstance(value, datetime.datetime):
        return rfc3339(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return _convert(value.value, max_string, 1, set())
    data = native(value, max_string)
    if isinstance(data, str):
        return data
    # A dataclass or model: its fields, walked like any dict; it may contain itself.
    marker = id(value)
    if marker in seen:
        return f"<cycle {type(value).__qualname__}>"
    seen.add(marker)
    try:
        return _convert(data, max_string, depth, seen)
    finally:
        seen.discard(marker)
