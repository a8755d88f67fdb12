"""Redaction: no secret leaves the process, whatever value or format carries it.

The :class:`Redactor` runs on every record, after the enrichers. Each call field is first
converted to the data the renderer will write (a set becomes a list, a dataclass or
pydantic model a dict, bytes and exceptions text, any other object its ``repr``: see
:func:`flext_logging._jsonsafe.native`), so what is searched is what is written, in
every format; a value with nothing to redact is passed on as it is, one with a secret
becomes the redacted data. Two rules replace secrets with ``[REDACTED]``, at any depth:

- **names**: the value of a key whose name is secret. A name is split into lower-case
  words at ``_``, ``-``, ``.``, spaces and camelCase (``accessToken``, ``PGPASSWORD``,
  ``x-api-key``) and is secret when a word is one of :data:`SECRET_WORDS` (singular or
  plural, alone or glued to other letters: ``pgpassword``), or its last word is one of
  :data:`SECRET_LAST_WORDS`. :data:`LOOK_ALIKES` are never taken for secret words, and
  ``token`` beside a counting word (``tokens_used``, ``max_tokens``) is a count.
- **shapes in text**, in every string: JWTs, bearer tokens, Luhn-valid card numbers, the
  user info of a URL (``https://[REDACTED]@host/``), and the value after ``name=`` or a
  quoted ``"name":`` when the name is secret (query strings, ``repr`` output, logfmt
  and JSON inside text).

Searching text is linear with a small constant: StringZilla looks for cheap hints
(``eyJ``, ``earer``, ``://``, ``=``, a quoted name and a colon, 13 digits in a row once
spaces and dashes are ignored), and a regular expression runs only on a window around a
hit. Names are decided once each and remembered.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

import stringzilla as sz

from flext_logging import keys
from flext_logging._jsonsafe import MAX_DEPTH, native, safe_repr

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "EXC_INFO",
    "LOOK_ALIKES",
    "REDACTED",
    "SECRET_LAST_WORDS",
    "SECRET_WORDS",
    "Redactor",
    "name_words",
]

REDACTED: Final = "[REDACTED]"
"""What a secret is replaced with."""
EXC_INFO: Final = "exc_info"
"""structlog's key for the exception a console renderer draws; left for the renderer,
which redacts what it draws."""

SECRET_WORDS: Final = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "creds",
    "cookie",
    "authorization",
    "jwt",
    "api_key",
    "private_key",
    "access_key",
    "signing_key",
    "encryption_key",
    "session_id",
    "session_key",
    "credit_card",
    "card_number",
    "cvv",
    "cvc",
    "csrf",
    "xsrf",
)
"""Words (and phrases of words) that make a name secret wherever they appear in it."""
SECRET_LAST_WORDS: Final = ("pass", "auth", "session", "signature", "sig", "bearer")
"""Words that make a name secret only as its last word: ``basic_auth``, not ``auth_type``."""
DEFAULT_REDACT_KEYS: Final = SECRET_WORDS + SECRET_LAST_WORDS
"""Every built-in secret word; ``redact_keys=`` adds to these unless told to replace them."""
LOOK_ALIKES: Final = (
    "tokenizer",
    "tokenizers",
    "tokenize",
    "tokenized",
    "tokenization",
    "tokeniser",
    "tokenise",
    "tokenised",
    "detokenize",
    "passage",
    "passages",
    "passenger",
    "passengers",
    "passport",
    "passover",
    "secretary",
    "secretaries",
    "secretariat",
    "cookiecutter",
)
"""Words that contain a secret word but are not one: never a reason to redact."""
COUNT_WORDS: Final = frozenset(
    {
        "count",
        "counts",
        "used",
        "usage",
        "total",
        "max",
        "min",
        "num",
        "number",
        "limit",
        "limits",
        "input",
        "output",
        "prompt",
        "completion",
        "remaining",
        "budget",
        "per",
        "rate",
        "estimated",
        "cached",
        "reasoning",
        "length",
        "size",
    }
)
"""Beside one of these, ``token``/``tokens`` counts tokens (``tokens_used``): not a secret."""

_LOOK_ALIKE_SET: Final = frozenset(LOOK_ALIKES)
_TOKEN_WORDS: Final = frozenset({"token", "tokens"})
_GLUED_END: Final = 5  # a secret word this long or longer is found at the end of a word
_GLUED_START: Final = 6  # ... and this long or longer at its start (passwordhash)
_MAX_PHRASE: Final = 3  # words in the longest phrase compared ("x api key" -> "apikey")
_MEMO_LIMIT: Final = 10_000
_WORD_PARTS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def name_words(name: str) -> list[str]:
    """Split a key name into its lower-case words: ``"xAPIKey_v2"`` -> x, api, key, v, 2."""
    return [word.lower() for word in _WORD_PARTS.findall(name)]


class _SecretNames:
    """Decides whether a name is secret (no memo: the Redactor remembers the answers)."""

    __slots__ = ("_anywhere", "_ends", "_globs", "_last", "_last_ends", "_starts")

    def __init__(self, words: Iterable[str], last_words: Iterable[str], globs: list[str]) -> None:
        self._anywhere = frozenset("".join(name_words(w)) for w in words) - {""}
        self._last = frozenset("".join(name_words(w)) for w in last_words) - {""}
        self._ends = tuple(sorted(w for w in self._anywhere if len(w) >= _GLUED_END))
        self._starts = tuple(sorted(w for w in self._anywhere if len(w) >= _GLUED_START))
        self._last_ends = tuple(sorted(w for w in self._last if len(w) >= _GLUED_END))
        translated = [fnmatch.translate(pattern) for pattern in globs]
        self._globs = re.compile("|".join(translated)) if translated else None

    @property
    def stems(self) -> tuple[str, ...]:
        """Lower-case text every secret name contains: where to look in long text."""
        return tuple(sorted({word[:4] for word in self._anywhere | self._last}))

    @property
    def has_globs(self) -> bool:
        """Whether glob patterns are configured (they have no stem to look for)."""
        return self._globs is not None

    def __call__(self, name: str) -> bool:
        if self._globs is not None and self._globs.fullmatch(name.lower()) is not None:
            return True
        words = name_words(name)
        counting = not COUNT_WORDS.isdisjoint(words)
        last = len(words) - 1
        for index, word in enumerate(words):
            if word in _LOOK_ALIKE_SET or (counting and word in _TOKEN_WORDS):
                continue
            glued = word
            for end in range(index, min(index + _MAX_PHRASE, last + 1)):
                if end > index:
                    glued += words[end]
                if self._is_word(glued, at_end=end == last):
                    return True
            if self._is_glued(word, at_end=index == last):
                return True
        return False

    def _is_word(self, word: str, *, at_end: bool) -> bool:
        singular = word[:-1] if word.endswith("s") else word
        if word in self._anywhere or singular in self._anywhere:
            return True
        return at_end and (word in self._last or singular in self._last)

    def _is_glued(self, word: str, *, at_end: bool) -> bool:
        singular = word[:-1] if word.endswith("s") else word
        for secret in self._ends:
            if len(singular) > len(secret) and singular.endswith(secret):
                return True
        for secret in self._starts:
            if len(word) > len(secret) and word.startswith(secret):
                return True
        if at_end:
            for secret in self._last_ends:
                if len(singular) > len(secret) and singular.endswith(secret):
                    return True
        return False


# -- Secret shapes in text: patterns, run on a window around a cheap hint. ------------
_TOKEN_CHARS: Final = rb"[A-Za-z0-9._~+/-]"
_JWT: Final = re.compile(rb"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_JWT_RUN: Final = re.compile(rb"[A-Za-z0-9_-]*")
# A bearer credential: the scheme is kept, the token (16+ characters with a digit or a
# symbol, or 24+ of anything token-like) is replaced, so "the bearer of" stays.
_BEARER: Final = re.compile(
    rb"(?<![A-Za-z0-9])(?:[Bb]earer|BEARER)\s+(?P<token>(?=[A-Za-z_~+/]*[0-9.\-~+/])"
    + _TOKEN_CHARS
    + rb"{16,}=*|"
    + _TOKEN_CHARS
    + rb"{24,}=*)"
)
# A payment card number: 13-19 digits starting 2-6, single spaces or dashes between
# them, not part of a longer word or number; redacted only if Luhn-valid.
_CARD: Final = re.compile(rb"(?<![0-9A-Za-z])[2-6](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z])")
_MIN_CARD: Final = 13
_CARD_GROUP: Final = 4  # the digits of a printed card's first group
_CARD_MIDDLE_GROUPS: Final = frozenset({4, 6})  # 6: the middle group of 15- and 14-digit cards
# The user info of a URL: everything between "://" and the last "@" of the authority.
_USERINFO: Final = re.compile(rb"[^\s/?#]{1,2048}@")
_NAME_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
_MAX_NAME: Final = 64
# Where an unquoted value ends: "token=abc&next=1", "password=x, user=y", "(pwd=x)".
_VALUE_END: Final = " \t\r\n&;,)]}#\"'<>|"
_QUOTES: Final = b"'\""
_BACKSLASH: Final = 0x5C
_SPACES: Final = b" \t"
_FEW_NAMED: Final = 16  # more "=" or quoted-name colons than this: search by stems

_HINT_CHARS: Final = "=:J0123456789"
_DIGITS: Final = b"0123456789"
_SHORT: Final = 256  # below this length Python's substring tests are the faster hints
_TEXT_MEMO_LIMIT: Final = 4096
# The types whose values the memo of clean values holds: equal values are written alike.
_MEMO_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_CARD_MASK: Final = bytes(
    ord("0") if 0x30 <= code <= 0x39 or code in (0x20, 0x2D) else ord(".") for code in range(256)
)
_CARD_MARKS: Final = bytes(
    ord("0") if 0x30 <= code <= 0x39 else ord("-") if code in (0x20, 0x2D) else ord(".")
    for code in range(256)
)
_SEPARATOR_TO_DIGIT: Final = bytes(ord("0") if code == ord("-") else code for code in range(256))
_CARD_RUN: Final = "0" * _MIN_CARD
# A digit doubled in the Luhn check, as an ASCII digit: 5 -> 10 -> 1 + 0 -> "1".
_LUHN_DOUBLED: Final = bytes(
    0x30 + (2 * (code - 0x30) - 9 if code - 0x30 > 4 else 2 * (code - 0x30))
    if 0x30 <= code <= 0x39
    else code
    for code in range(256)
)
_MIN_SECRET_LENGTH: Final = 5  # "pwd=x": the shortest text a built-in rule replaces
_REDACTED_BYTES: Final = REDACTED.encode()

_SAFE_TYPES: Final = frozenset(
    {int, float, bool, type(None), datetime.datetime, datetime.date, datetime.time, uuid.UUID}
)
"""Values that cannot hold a secret: left as they are (orjson writes them natively)."""
_UNSCANNED: Final = frozenset((keys.TIMESTAMP, keys.LEVEL, keys.LOGGER, *keys.CONTEXT_KEYS))
"""Fields never searched: the record head (but the message) and the validated context ids."""


def _luhn_valid(digits: bytes) -> bool:
    """The Luhn check of card numbers, on ASCII digits (every second one from the right
    doubled, its digits summed)."""
    if not _MIN_CARD <= len(digits) <= 19:
        return False
    doubled = digits[-2::-2].translate(_LUHN_DOUBLED)
    total = sum(digits[::-2]) + sum(doubled) - 0x30 * len(digits)
    return total % 10 == 0


def _grouped_like_a_card(candidate: bytes) -> bool:
    """Whether *candidate*'s separators (if any) group its digits as cards are printed:
    4, then groups of 4 or 6, then the rest (4-4-4-4, 4-6-5, 4-4-4-4-3).

    Identifiers are dashed digits too: a UUID whose first groups hold only digits
    (8-4-4, 16 of them) passes the Luhn check one time in ten, and was taken for a card.
    """
    groups = candidate.replace(b"-", b" ").split(b" ")
    if len(groups) == 1:
        return True
    return len(groups[0]) == _CARD_GROUP and all(
        len(group) in _CARD_MIDDLE_GROUPS for group in groups[1:-1]
    )


def _merge(spans: list[tuple[int, int, bytes]], data: bytes) -> bytes:
    """*data* with each span replaced; overlapping spans become one replacement."""
    spans.sort()
    out = []
    position = 0
    current_start, current_end, current_text = spans[0]
    for start, end, text in spans[1:]:
        if start < current_end:  # overlapping: one secret found by two rules
            current_end = max(current_end, end)
            current_text = _REDACTED_BYTES
            continue
        out.append(data[position:current_start])
        out.append(current_text)
        position = current_end
        current_start, current_end, current_text = start, end, text
    out.append(data[position:current_start])
    out.append(current_text)
    out.append(data[current_end:])
    return b"".join(out)


def _remember(memo: set[Any], item: object) -> None:
    """Remember a clean text or field (a memo is cleared when full: bounded memory)."""
    if len(memo) >= _TEXT_MEMO_LIMIT:
        memo.clear()
    memo.add(item)


class Redactor:
    """Replace secrets with ``[REDACTED]``: values under secret names, and secret shapes.

    *redact_keys* add names to the built-in ones: a plain entry is a secret word or
    phrase matched like the built-in ones (``"ssn"``, ``"card_pin"``), an entry with
    ``*``, ``?`` or ``[`` a glob matched against the whole name, ignoring case. With
    ``redact_default_keys=False`` only *redact_keys* are secret names. Every match of
    *redact_patterns* (regular expressions) in a string is replaced too. The record
    head and the context ids are never searched. A value with nothing to redact is
    passed on as the same object; one with a secret is replaced by the redacted data
    the renderer would write for it, so the caller's objects are never modified.
    """

    __slots__ = (
        "_clean_values",
        "_known",
        "_min_length",
        "_names",
        "_patterns",
        "_plain_names",
        "_renamed",
        "_secret",
        "_stems",
    )

    def __init__(
        self,
        redact_keys: Iterable[str] = (),
        *,
        redact_default_keys: bool = True,
        redact_patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        entries = [str(key) for key in redact_keys]
        globs = sorted({entry.lower() for entry in entries if any(c in entry for c in "*?[")})
        words = [entry for entry in entries if not any(c in entry for c in "*?[")]
        default_last = {"".join(name_words(word)) for word in SECRET_LAST_WORDS}
        last = [word for word in words if "".join(name_words(word)) in default_last]
        anywhere = [word for word in words if word not in last]
        if redact_default_keys:
            anywhere.extend(SECRET_WORDS)
            last.extend(SECRET_LAST_WORDS)
        self._names = _SecretNames(anywhere, last, globs)
        self._stems = None if self._names.has_globs else self._names.stems
        self._patterns = tuple(re.compile(pattern) for pattern in redact_patterns)
        self._min_length = 1 if self._patterns else _MIN_SECRET_LENGTH
        # Names seen so far, those of them that are secret, and those whose own text
        # holds a secret shape. Only ever grown, under the GIL, so concurrent records
        # see a consistent answer for every name.
        self._known: set[str] = set(keys.HEAD_KEYS)
        self._secret: set[str] = set()
        self._renamed: dict[str, str] = {}
        self._plain_names: set[str] = set()  # known, neither secret nor renamed
        # Short strings and scalars found clean: to answer at once when they repeat
        # (cleared when full).
        self._clean_values: set[object] = set()

    # -- Names -------------------------------------------------------------------------

    def is_secret(self, key: object) -> bool:
        """Tell whether a field called *key* holds a secret."""
        if not isinstance(key, str) or key in keys.HEAD_KEYS:
            return False
        if key not in self._known:
            self._learn(key)
            if key not in self._known:  # the memo is full: decide without it
                return self._names(key)
        return key in self._secret

    def _learn(self, key: str) -> None:
        if len(self._known) >= _MEMO_LIMIT:  # names are few; bound it for odd callers
            return
        if self._names(key):
            self._secret.add(key)
        elif len(key) >= self._min_length and (clean := self.redact_text(key)) != key:
            self._renamed[key] = clean
        else:
            self._plain_names.add(key)
        self._known.add(key)

    def _clean_key(self, key: str) -> str:
        if key in self._known:
            return self._renamed.get(key, key)
        self._learn(key)
        if key in self._known:
            return self._renamed.get(key, key)
        return self.redact_text(key)

    # -- Text --------------------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """Return *text* with every secret shape replaced (the same object if none)."""
        size = len(text)
        if size < self._min_length:
            return text
        if size > _SHORT:
            result = self._redact_long(text)
        else:
            if text in self._clean_values:
                return text  # this object: callers tell "unchanged" by identity
            result = self._redact_short(text)
        for pattern in self._patterns:
            result = pattern.sub(REDACTED, result)
        if result is text and size <= _SHORT:
            # Messages and many values repeat: a clean one costs one lookup next time.
            _remember(self._clean_values, text)
        return result

    def _redact_short(self, text: str) -> str:
        # Python's own substring tests beat a call into StringZilla on short text.
        if (
            "=" not in text
            and ":" not in text
            and "J" not in text
            and "earer" not in text
            and "EARER" not in text
        ):
            if len(text) < _MIN_CARD:
                return text
            data = text.encode("utf-8", "surrogatepass")
            if len(data) - len(data.translate(None, _DIGITS)) < _MIN_CARD:
                return text
        else:
            data = text.encode("utf-8", "surrogatepass")
        spans = self._spans(data, short=True)
        return _merge(spans, data).decode("utf-8", "surrogatepass") if spans else text

    def _redact_long(self, text: str) -> str:
        # StringZilla searches an ASCII str in place; other text is searched as UTF-8.
        buffer: str | bytes = text if text.isascii() else text.encode("utf-8", "surrogatepass")
        if (
            sz.find_first_of(buffer, _HINT_CHARS) < 0
            and sz.find(buffer, "earer") < 0
            and sz.find(buffer, "EARER") < 0
        ):
            return text
        data = buffer.encode("ascii") if isinstance(buffer, str) else buffer
        spans = self._spans(data, short=False)
        return _merge(spans, data).decode("utf-8", "surrogatepass") if spans else text

    def _spans(self, data: bytes, *, short: bool) -> list[tuple[int, int, bytes]]:
        """Where the secrets are in the UTF-8 *data* of a text (offsets into it)."""
        if short:

            def has(needle: bytes) -> bool:
                return needle in data
        else:

            def has(needle: bytes) -> bool:
                return bool(sz.find(data, needle) >= 0)

        spans: list[tuple[int, int, bytes]] = []
        if has(b"eyJ"):
            _find_jwts(data, spans)
        if has(b"earer") or has(b"EARER"):
            _find_bearers(data, spans)
        if has(b"://"):
            _find_userinfo(data, spans)
        if has(b"=") or has(b"':") or has(b'":'):
            self._find_named(data, spans)
        if len(data) >= _MIN_CARD and sz.find(sz.translate(data, _CARD_MASK), _CARD_RUN) >= 0:
            _find_cards(data, spans)
        return spans

    def _find_named(self, data: bytes, spans: list[tuple[int, int, bytes]]) -> None:
        """Values after ``name=`` or ``"name":`` whose name is secret."""
        separators = sz.count(data, "=") + sz.count(data, "':") + sz.count(data, '":')
        if separators <= _FEW_NAMED or self._stems is None:
            for separator in (b"=", b"':", b'":'):
                at = sz.find(data, separator)
                while at >= 0:
                    self._named_at(data, at, separator != b"=", spans)
                    at = sz.find(data, separator, at + 1)
            return
        # Many separators (a query string, JSON text): look only near secret words.
        lowered = data.lower()
        for stem in self._stems:
            at = sz.find(lowered, stem)
            while at >= 0:
                end = sz.find_first_not_of(data, _NAME_CHARS, at)
                end = len(data) if end < 0 else end
                self._named_after(data, end, spans)
                at = sz.find(lowered, stem, end + 1)

    def _named_after(self, data: bytes, end: int, spans: list[tuple[int, int, bytes]]) -> None:
        """A name ends at *end*: find its separator, if any, and check it."""
        at = end
        quoted = False
        if at < len(data) and data[at] == _BACKSLASH:
            at += 1
        if at < len(data) and data[at] in _QUOTES:
            quoted = True
            at += 1
        while at < len(data) and data[at] in _SPACES and at - end < 4:
            at += 1
        if at < len(data) and data[at] == 0x3D:  # "="
            self._named_at(data, at, False, spans)
        elif quoted and at < len(data) and data[at] == 0x3A:  # ":" after a quoted name
            self._named_at(data, at - 1, True, spans)

    def _named_at(
        self, data: bytes, at: int, quoted: bool, spans: list[tuple[int, int, bytes]]
    ) -> None:
        """Check the name before the separator at *at* (``=``, or the quote of ``':``)."""
        if quoted:
            name_end = at - 1 if at > 0 and data[at - 1] == _BACKSLASH else at
            value_start = at + 2
            spaced = True  # "name": value, as JSON is pretty-printed
        else:
            name_end = at
            while name_end > 0 and data[name_end - 1] in _SPACES and at - name_end < 2:
                name_end -= 1
            spaced = name_end < at  # "name = value" but not "name= next words"
            if name_end > 0 and data[name_end - 1] in _QUOTES:
                name_end -= 1
                if name_end > 0 and data[name_end - 1] == _BACKSLASH:
                    name_end -= 1
            value_start = at + 1
        low = max(0, name_end - _MAX_NAME)
        before = sz.find_last_not_of(data, _NAME_CHARS, low, name_end)
        name_start = low if before < 0 else before + 1
        if name_start >= name_end:
            return
        name = data[name_start:name_end].decode("ascii")
        if not self.is_secret(name):
            return
        span = _value_span(data, value_start, skip_spaces=spaced)
        if span is not None:
            spans.append((span[0], span[1], _REDACTED_BYTES))

    # -- Values ------------------------------------------------------------------------

    def redact_value(self, value: Any) -> Any:
        """Return *value* as the data a renderer writes, secrets replaced at any depth."""
        return self._clean(value, MAX_DEPTH, set())

    def memos(self) -> tuple[set[object], set[str]]:
        """The values, and the field names, found clean (never modify them).

        Messages and fields repeat from call to call: a record builder that finds its
        message and each field's value in the first set, and each field's name in the
        second, skips :meth:`redact_text` and :meth:`redact_fields` (a value's search does
        not depend on the name it comes under, once the name is neither secret nor
        renamed). Only short texts and numbers (and ``True``, ``False``, ``None``) are
        remembered; a value of another type that equals one of them (a ``str`` or ``int``
        subclass, an enum member, a ``Decimal``) is written as that text or number. The
        sets are bounded, cleared when full, never replaced: a builder may keep them.
        """
        return self._clean_values, self._plain_names

    def redact_message(self, message: str) -> str:
        """Return a message with every secret shape replaced (a str subclass as its text)."""
        if type(message) is str:
            return self.redact_text(message)
        return self.redact_value(message)  # type: ignore[no-any-return]  # text in, text out

    def redact_fields(self, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """Return a call's *fields* with secrets replaced: *fields* itself if none is found.

        For fields that are neither the record head nor context ids (a call's own, the
        ones bound to a logger or a scope), which a record builder redacts before they
        join the record. Names and values are treated as :meth:`__call__` treats them;
        the mapping given is never modified.
        """
        if not self._plain_names.issuperset(fields):
            return self(None, "", dict(fields))  # a name to learn, redact or rename
        min_length = self._min_length
        clean_values = self._clean_values
        changed: dict[str, Any] | None = None
        for key, value in fields.items():
            kind = type(value)
            if kind is str:
                if len(value) < min_length:
                    _remember(clean_values, value)
                    continue
                clean = self.redact_text(value)  # which remembers a short clean text
            elif kind in _SAFE_TYPES:
                if kind in _MEMO_TYPES:
                    _remember(clean_values, value)
                continue
            else:
                clean = self._clean(value, MAX_DEPTH, set())
            if clean is not value:
                if changed is None:
                    changed = dict(fields)
                changed[key] = clean
        return fields if changed is None else changed

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        names = event_dict.keys()
        renames: dict[str, str] | None = None
        # Membership tests without building sets: the common record has nothing new.
        if not self._known.issuperset(names):
            for key in names - self._known:
                if isinstance(key, str):
                    self._learn(key)
                    if key not in self._known:  # the memo is full: decide here
                        renames = self._decide_unremembered(event_dict, key, renames)
        if not self._secret.isdisjoint(names):
            for key in names & self._secret:
                event_dict[key] = REDACTED
        min_length = self._min_length
        for key, value in event_dict.items():
            kind = type(value)
            if kind is str:
                if len(value) >= min_length and key not in _UNSCANNED:
                    event_dict[key] = self.redact_text(value)
            elif kind not in _SAFE_TYPES and key not in _UNSCANNED and key != EXC_INFO:
                event_dict[key] = self._clean(value, MAX_DEPTH, set())
        if renames is not None or (self._renamed and not self._renamed.keys().isdisjoint(names)):
            renamed = {**self._renamed, **(renames or {})}
            return {renamed.get(key, key): value for key, value in event_dict.items()}
        return event_dict

    def _decide_unremembered(
        self, event_dict: dict[str, Any], key: str, renames: dict[str, str] | None
    ) -> dict[str, str] | None:
        """Redact a field whose name the full memo cannot hold; return the renames."""
        if self._names(key):
            event_dict[key] = REDACTED
            return renames
        clean = self.redact_text(key)
        if clean == key:
            return renames
        return {**(renames or {}), key: clean}

    def _clean(self, value: Any, depth: int, seen: set[int]) -> Any:
        kind = type(value)
        if kind is str:
            return self.redact_text(value)
        if kind in _SAFE_TYPES:
            return value
        if isinstance(value, str):  # a str subclass: written as its text
            return self.redact_text(str.__str__(value))
        if depth <= 0:
            return self.redact_text(safe_repr(value))
        if isinstance(value, (Mapping, list, tuple)):
            data = value
        else:
            # What the renderer will write for it. When that holds no secret the value
            # itself is passed on (the renderer writes the same; a custom encoder, such
            # as a JsonFormatter's json_default, still gets the object).
            data = native(value)
            if isinstance(data, str):
                clean = self.redact_text(data)
                return value if clean is data else clean
            if data is value:  # a type native() leaves as it is (an int subclass, a date)
                return value
            if not isinstance(data, (Mapping, list, tuple)):  # an enum member's value
                cleaned = self._clean(data, depth - 1, seen)
                return value if cleaned is data else cleaned
        # A container, or a set, deque, dataclass or model as one; it may contain itself.
        marker = id(value)
        if marker in seen:
            return f"<cycle {kind.__qualname__}>"
        seen.add(marker)
        try:
            cleaned = self._clean_container(data, depth, seen)
        except Exception:  # noqa: BLE001 - a container that fails to iterate: its text
            return self.redact_text(safe_repr(value))
        finally:
            seen.discard(marker)
        return value if cleaned is data else cleaned

    def _clean_container(self, value: Any, depth: int, seen: set[int]) -> Any:
        if isinstance(value, Mapping):
            return self._clean_mapping(value, depth, seen)
        cleaned = [self._clean(item, depth - 1, seen) for item in value]
        if all(a is b for a, b in zip(cleaned, value, strict=True)):
            return value
        return tuple(cleaned) if type(value) is tuple else cleaned

    def _clean_mapping(self, value: Mapping[Any, Any], depth: int, seen: set[int]) -> Any:
        changed = False
        cleaned: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                new_key = self._clean_key(key)
                new_item = REDACTED if self.is_secret(key) else self._clean(item, depth - 1, seen)
            elif type(key) in _SAFE_TYPES:
                new_key = key
                new_item = self._clean(item, depth - 1, seen)
            else:  # written as its repr by the renderer: search that
                new_key = self.redact_text(safe_repr(key, 200))
                new_item = self._clean(item, depth - 1, seen)
            changed = changed or new_key is not key or new_item is not item
            cleaned[new_key] = new_item
        return cleaned if changed else value


def _as_bytes(buffer: str | bytes) -> bytes:
    return buffer.encode("ascii") if isinstance(buffer, str) else buffer


def _find_jwts(data: bytes, spans: list[tuple[int, int, bytes]]) -> None:
    at = sz.find(data, "eyJ")
    while at >= 0:
        match = _JWT.match(data, at)
        if match is not None:
            spans.append((at, match.end(), _REDACTED_BYTES))
            resume = match.end()
        else:  # no JWT starts anywhere in this run of token characters: skip it whole
            resume = max(_JWT_RUN.match(data, at + 3).end(), at + 3)  # type: ignore[union-attr]  # * always matches
        at = sz.find(data, "eyJ", resume)


def _find_bearers(data: bytes, spans: list[tuple[int, int, bytes]]) -> None:
    for hint in ("earer", "EARER"):
        at = sz.find(data, hint)
        while at >= 0:
            match = _BEARER.match(data, at - 1) if at > 0 else None
            if match is not None:
                spans.append((match.start("token"), match.end("token"), _REDACTED_BYTES))
                at = sz.find(data, hint, match.end())
            else:
                at = sz.find(data, hint, at + len(hint))


def _find_userinfo(data: bytes, spans: list[tuple[int, int, bytes]]) -> None:
    at = sz.find(data, "://")
    while at >= 0:
        match = _USERINFO.match(data, at + 3)
        if match is not None:
            spans.append((at + 3, match.end() - 1, _REDACTED_BYTES))
            at = sz.find(data, "://", match.end())
        else:
            at = sz.find(data, "://", at + 3)


def _find_cards(data: bytes, spans: list[tuple[int, int, bytes]]) -> None:
    # Card candidates are runs of digits with at most one space or dash between two of
    # them: mark digits "0" and separators "-", end runs at two separators in a row,
    # then look for runs of 13 or more. A run of that length without 13 digits is skipped.
    marks = sz.translate(data, _CARD_MARKS).replace(b"--", b"..")
    runs = sz.translate(marks, _SEPARATOR_TO_DIGIT)
    at = sz.find(runs, _CARD_RUN)
    while at >= 0:
        start = sz.rfind(runs, ".", 0, at) + 1
        end = sz.find(runs, ".", at)
        end = len(data) if end < 0 else end
        if end - start - marks.count(b"-", start, end) >= _MIN_CARD:
            _find_cards_in_run(data, max(start - 1, 0), min(end + 1, len(data)), spans)
        at = sz.find(runs, _CARD_RUN, end)


def _find_cards_in_run(
    data: bytes, start: int, end: int, spans: list[tuple[int, int, bytes]]
) -> None:
    """Add the spans of the card numbers in ``data[start:end]``, a run of digits."""
    at = start
    while (match := _CARD.search(data, at, end)) is not None:
        candidate = match.group()
        if _grouped_like_a_card(candidate):
            if _luhn_valid(candidate.translate(None, b" -")):
                spans.append((match.start(), match.end(), _REDACTED_BYTES))
            at = match.end()
        else:  # not a card from its first group: one may start at the next ("55 4111 1111 ...")
            first_group = candidate.replace(b"-", b" ").split(b" ", 1)[0]
            at = match.start() + len(first_group) + 1


def _value_span(data: bytes, start: int, *, skip_spaces: bool) -> tuple[int, int] | None:
    """The extent of the value that starts at *start* (after a separator), if any."""
    size = len(data)
    if skip_spaces:
        while start < size and data[start] in _SPACES:
            start += 1
    if start >= size:
        return None
    quote = data[start]
    escaped = quote == _BACKSLASH and start + 1 < size and data[start + 1] in _QUOTES
    if escaped:
        closing = data[start : start + 2]
        close = data.find(closing, start + 2)
        if close >= 0:
            return (start + 2, close) if close > start + 2 else None
    elif quote in _QUOTES:
        at = start + 1
        while True:
            close = data.find(bytes((quote,)), at)
            if close < 0:
                break
            if data[close - 1] != _BACKSLASH:
                return (start + 1, close) if close > start + 1 else None
            at = close + 1
    end = sz.find_first_of(data, _VALUE_END, start)
    end = size if end < 0 else end
    return (start, end) if end > start else None
