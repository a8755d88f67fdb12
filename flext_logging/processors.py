"""Enrichers: small callables with structlog's processor signature.

Each takes ``(logger, method_name, event_dict)`` and returns the event dict, so any
structlog processor can run beside them. Each docstring names the keys it reads and
writes (constants of :mod:`flext_logging.keys`).
"""

from __future__ import annotations

import datetime
import fnmatch
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Final

from flext_logging import keys
from flext_logging._jsonsafe import rfc3339
from flext_logging.context.state import current_fields, opentelemetry_span_in_force
from flext_logging.exceptions import current_error_handling
from flext_logging.tracebacks import exception_data, resolve_exc_info, stack_text

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "REDACTED",
    "Redactor",
    "add_context",
    "add_error",
    "add_exception",
    "add_opentelemetry_ids",
    "add_stack",
    "level_name",
    "set_aside_head_fields",
]

EXC_INFO: Final = "exc_info"
"""Where a logger call's ``exc_info=`` waits for :func:`add_error` / :func:`add_exception`."""
STACK_INFO: Final = "stack_info"
"""Where a logger call's ``stack_info=True`` waits for :func:`add_stack`."""
EVENT: Final = "event"
"""structlog's name for the message; :func:`add_context` moves it to ``message``."""

_CONTEXT_KEY_SET: Final = frozenset(keys.CONTEXT_KEYS)
COLLISION_SUFFIX: Final = "_field"
"""Added to a call field that would overwrite a head key (``level`` -> ``level_field``)."""
PIPELINE_INPUTS: Final = (*keys.HEAD_KEYS, EVENT, EXC_INFO, STACK_INFO)
"""The names under which a producer hands its record's own values to the enrichers."""
_PIPELINE_INPUT_SET: Final = frozenset(PIPELINE_INPUTS)

_LEVEL_ALIASES: Final = {
    "exception": "error",
    "warn": "warning",
    "fatal": "critical",
    "msg": "info",
    "log": "info",
}
_UTC: Final = datetime.timezone.utc


def level_name(method_name: str) -> str:
    """Return the record level for a logger method name (``exception`` -> ``error``)."""
    return _LEVEL_ALIASES.get(method_name, method_name)


def set_aside_head_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Return *fields* with each one named like a pipeline input renamed ``<name>_field``.

    The collision rule for a producer that gathers a call's own fields (``extra=``,
    static fields, a dict message) before adding the record's time, level, logger
    name, message, exception and stack: the head always means what the schema says,
    and the call's value is kept beside it, in its place. Returns *fields* itself
    when nothing collides.
    """
    if _PIPELINE_INPUT_SET.isdisjoint(fields):
        return fields
    return {
        (key + COLLISION_SUFFIX if key in _PIPELINE_INPUT_SET else key): value
        for key, value in fields.items()
    }


def add_context(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Build the record head and merge the current FlextContext, in schema order.

    Reads ``event`` (or ``message``), ``timestamp`` and ``logger`` when a caller
    supplied them; writes ``timestamp``, ``level``, ``logger``, ``message`` and every
    context key with a value, followed by the call's own fields. A call's field with
    a context key's name overrides the context value in place.
    """
    timestamp = event_dict.pop(keys.TIMESTAMP, None) or datetime.datetime.now(_UTC)
    if isinstance(timestamp, datetime.datetime) and not timestamp.microsecond:
        # orjson drops a zero fraction; a fixed width keeps log lines sortable as text.
        timestamp = rfc3339(timestamp)
    name = event_dict.pop(keys.LOGGER, None)
    if name is None:
        name = getattr(logger, "name", None) or ""
    message = event_dict.pop(EVENT, None)
    if message is None:
        message = event_dict.pop(keys.MESSAGE, "")
    record = {
        keys.TIMESTAMP: timestamp,
        keys.LEVEL: level_name(method_name),
        keys.LOGGER: name,
        keys.MESSAGE: message,
    }
    context = current_fields()
    if _CONTEXT_KEY_SET.isdisjoint(event_dict):
        record.update(context)
    else:
        # A call's field named like a context key takes that key's place in the schema,
        # whether or not the context has a value for it.
        for key in keys.CONTEXT_KEYS:
            if key in event_dict:
                record[key] = event_dict.pop(key)
            elif key in context:
                record[key] = context[key]
    if keys.LEVEL in event_dict or keys.MESSAGE in event_dict:
        # The head is a contract: a call's own "level" or "message" is kept beside it.
        for key in (keys.LEVEL, keys.MESSAGE):
            if key in event_dict:
                event_dict[key + COLLISION_SUFFIX] = event_dict.pop(key)
    record.update(event_dict)
    return record


def add_error(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Render the exception named by ``exc_info`` as data under ``error``.

    Reads and removes ``exc_info``; writes ``error`` (see :mod:`flext_logging.tracebacks`)
    following the error-handling settings in force.
    """
    exc = resolve_exc_info(event_dict.pop(EXC_INFO, None))
    if exc is not None:
        event_dict[keys.ERROR] = exception_data(exc, current_error_handling())
    return event_dict


def add_exception(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``exc_info`` to the exception itself, for renderers that draw tracebacks.

    Reads ``exc_info``; leaves the exception instance there (or removes the key when
    it names none). The console renderer uses it; JSON pipelines use :func:`add_error`.
    """
    exc = resolve_exc_info(event_dict.pop(EXC_INFO, None))
    if exc is not None:
        event_dict[EXC_INFO] = exc
    return event_dict


_OWN_PACKAGES: Final = ("flext_logging", "logging", "structlog")
_OWN_PREFIXES: Final = tuple(f"{package}." for package in _OWN_PACKAGES)


def _is_own_module(name: str) -> bool:
    return name in _OWN_PACKAGES or name.startswith(_OWN_PREFIXES)


def add_stack(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add the caller's stack when the call passed ``stack_info=True``.

    Reads and removes ``stack_info``; writes ``stack``: the formatted call stack up to
    the application code that made the call, as the standard library formats it.
    """
    if event_dict.pop(STACK_INFO, False):
        frame = sys._getframe(1)
        while frame is not None and _is_own_module(frame.f_globals.get("__name__", "")):
            frame = frame.f_back  # type: ignore[assignment]  # loop ends on None
        event_dict[keys.STACK] = stack_text(frame, current_error_handling().max_frames)
    return event_dict


REDACTED: Final = "[REDACTED]"
DEFAULT_REDACT_KEYS: Final = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "*_token",
    "*-token",
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "session",
    "sessionid",
    "session_id",
    "private_key",
    "client_secret",
    "credit_card",
    "card_number",
)
_MAX_REDACT_DEPTH: Final = 20


_PLAIN_TYPES: Final = frozenset({str, int, float, bool, type(None), datetime.datetime})
"""Value types that cannot hide a secret key: the redactor does not look inside them."""
_MEMO_LIMIT: Final = 10_000

# -- Secrets recognised by their shape, inside any string value. ----------------------
_TOKEN_CHARS: Final = r"[A-Za-z0-9._~+/-]"  # noqa: S105 - a character class, not a secret
_SHAPE_PATTERNS: Final = (
    # A JWT (JWS compact form): base64url JSON header and payload, then a signature.
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    # A bearer credential: the scheme is kept, the token (16+ characters with a digit or
    # symbol, or 24+ of anything token-like) is replaced, so "the bearer of" stays.
    (
        rf"(?<![A-Za-z0-9])(?:[Bb]earer|BEARER)\s+(?P<bearer>(?=[A-Za-z_~+/]*[0-9.\-~+/])"
        rf"{_TOKEN_CHARS}{{16,}}=*|{_TOKEN_CHARS}{{24,}}=*)"
    ),
    # A payment card number: 13-19 digits starting 2-6, single spaces or dashes
    # between them, not part of a longer word or number; redacted only if Luhn-valid.
    r"(?<![0-9A-Za-z])(?P<card>[2-6](?:[ -]?[0-9]){12,18})(?![0-9A-Za-z])",
)
"""The built-in value patterns: JWTs, bearer tokens and (Luhn-checked) card numbers."""
_SECRET_SHAPES: Final = re.compile("|".join(f"(?:{p})" for p in _SHAPE_PATTERNS))
_MIN_SECRET_LENGTH: Final = 13  # the shortest built-in shape: a 13-digit card number
_DIGITS: Final = b"0123456789"
_UNSCANNED: Final = frozenset((keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, *keys.CONTEXT_KEYS))
"""Fields whose values are never scanned for secret shapes: validated ids and names."""


def _luhn_valid(text: str) -> bool:
    digits = [ord(char) - 48 for char in text if "0" <= char <= "9"]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2  # noqa: PLW2901 - Luhn step
        total += digit
    return 13 <= len(digits) <= 19 and total % 10 == 0


def _replace_shape(match: re.Match[str]) -> str:
    card = match.group("card")
    if card is not None:
        return REDACTED if _luhn_valid(card) else match.group(0)
    token = match.group("bearer")
    if token is not None:
        whole = match.group(0)
        return whole[: len(whole) - len(token)] + REDACTED
    return REDACTED


def _may_hold_shape(text: str) -> bool:
    """A cheap test that rules out the built-in shapes for almost every string."""
    if "eyJ" in text or "earer" in text or "EARER" in text:
        return True
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, _DIGITS)) >= _MIN_SECRET_LENGTH


class Redactor:
    """Replace secrets with ``[REDACTED]``: values of secret-looking keys, and secret shapes.

    Keys match exactly or by glob (``*_token``), ignoring letter case; look-alikes
    (``author``, ``tokens_used``) do not match. Inside string values, the message
    included, JWTs, bearer tokens and Luhn-valid card numbers are replaced, and so is
    every match of the extra *redact_patterns* (regular expressions). Walks nested
    dicts, lists and tuples in every field except the record head and the context
    ids, copying containers it changes so the caller's objects are never modified.
    Each field name is classified once; later records cost two set operations on
    their keys, and a string is only searched when a cheap test finds a hint of a
    secret in it (``eyJ``, ``bearer``, 13 digits) or extra patterns are configured.
    """

    __slots__ = ("_exact", "_globs", "_known", "_min_length", "_patterns", "_secret")

    def __init__(
        self,
        redact_keys: Iterable[str] = DEFAULT_REDACT_KEYS,
        *,
        redact_patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        patterns = {str(key).lower() for key in redact_keys}
        self._exact = frozenset(p for p in patterns if not _is_glob(p))
        globs = [fnmatch.translate(p) for p in sorted(patterns) if _is_glob(p)]
        self._globs = re.compile("|".join(globs)) if globs else None
        self._patterns = tuple(re.compile(pattern) for pattern in redact_patterns)
        self._min_length = 1 if self._patterns else _MIN_SECRET_LENGTH
        # Names seen so far, and those of them that are secret. Only ever grown, under
        # the GIL, so concurrent records see a consistent answer for every name.
        self._known: set[str] = set(keys.HEAD_KEYS)
        self._secret: set[str] = set()

    def is_secret(self, key: object) -> bool:
        """Tell whether a field called *key* holds a secret."""
        if not isinstance(key, str) or key in keys.HEAD_KEYS:
            return False
        if key in self._known:
            return key in self._secret
        lowered = key.lower()
        secret = lowered in self._exact or (
            self._globs is not None and self._globs.fullmatch(lowered) is not None
        )
        if len(self._known) < _MEMO_LIMIT:  # names are few; bound it for odd callers
            if secret:
                self._secret.add(key)
            self._known.add(key)
        return secret

    def redact_text(self, text: str) -> str:
        """Return *text* with every secret shape replaced (the same object if none)."""
        if len(text) < self._min_length:
            return text
        if len(text) >= _MIN_SECRET_LENGTH and _may_hold_shape(text):
            text = _SECRET_SHAPES.sub(_replace_shape, text)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """Return *value* with secrets replaced at any depth (the same object if none)."""
        return self._clean(value, _MAX_REDACT_DEPTH)

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        names = event_dict.keys()
        # Membership tests without building sets: the common record has nothing new.
        if not self._known.issuperset(names):
            for key in names - self._known:
                self.is_secret(key)
        if not self._secret.isdisjoint(names):
            for key in names & self._secret:
                event_dict[key] = REDACTED
        min_length = self._min_length
        for key, value in event_dict.items():
            if type(value) is str:
                if len(value) >= min_length and key not in _UNSCANNED:
                    event_dict[key] = self.redact_text(value)
            elif type(value) not in _PLAIN_TYPES and isinstance(value, (Mapping, list, tuple)):
                if key in keys.HEAD_KEYS or self.is_secret(key):
                    continue
                event_dict[key] = self._clean(value, _MAX_REDACT_DEPTH)
        return event_dict

    def _clean(self, value: Any, depth: int) -> Any:
        if type(value) is str:
            return self.redact_text(value)
        if depth <= 0:
            return value
        if isinstance(value, Mapping):
            changed = {
                k: REDACTED if self.is_secret(k) else self._clean(v, depth - 1)
                for k, v in value.items()
            }
            same = all(changed[k] is v for k, v in value.items())
            return value if same else changed
        if isinstance(value, (list, tuple)):
            cleaned = [self._clean(item, depth - 1) for item in value]
            if all(a is b for a, b in zip(cleaned, value, strict=True)):
                return value
            return cleaned if isinstance(value, list) else tuple(cleaned)
        return value


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


_TRACE_KEYS: Final = (keys.TRACE_ID, keys.SPAN_ID)
# The keys a trace id is written after, when a record has no trace id of its own yet.
_BEFORE_TRACE: Final = frozenset(
    (*keys.HEAD_KEYS, *keys.CONTEXT_KEYS[: keys.CONTEXT_KEYS.index(keys.TRACE_ID)])
)


def add_opentelemetry_ids(
    logger: Any, method_name: str, event_dict: dict[str, Any]
) -> dict[str, Any]:
    """Write the ids of the active OpenTelemetry span, when it is the innermost span.

    Reads nothing of the record; writes ``trace_id`` and ``span_id`` in their schema
    place, replacing the ids of a span of this library that the OpenTelemetry span was
    started in (a span of ours started inside the OpenTelemetry span keeps its ids). A
    no-op, one dictionary lookup, unless the application has imported ``opentelemetry``.
    """
    if "opentelemetry.trace" not in sys.modules:
        return event_dict
    span = opentelemetry_span_in_force()
    if span is None:
        return event_dict
    if keys.TRACE_ID in event_dict and keys.SPAN_ID in event_dict:
        event_dict[keys.TRACE_ID] = span.trace_id
        event_dict[keys.SPAN_ID] = span.span_id
        return event_dict
    record: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key not in _BEFORE_TRACE and keys.TRACE_ID not in record:
            record[keys.TRACE_ID] = span.trace_id
            record[keys.SPAN_ID] = span.span_id
        if key not in _TRACE_KEYS:
            record[key] = value
    if keys.TRACE_ID not in record:
        record[keys.TRACE_ID] = span.trace_id
        record[keys.SPAN_ID] = span.span_id
    return record
