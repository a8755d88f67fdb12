"""Secrets never reach the output: each secret shape, in each position, in each format."""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys
from flext_logging.redaction import REDACTED, Redactor

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
BEARER_TOKEN = "mF_9.B5f-4.1JqM"
OPAQUE_TOKEN = "ya29.a0AfH6SMBx3kQ7rT9vLp2Zq8"
CARDS = (
    "4111111111111111",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "378282246310005",
    "3782 822463 10005",  # 15 digits, grouped 4-6-5
    "3056-930902-5904",  # 14 digits, grouped 4-6-4
    "6011 0000 0000 0000 001",  # 19 digits, grouped 4-4-4-4-3
)
PASSWORD = "correct-horse-battery-staple"

URL_PASSWORD = "hunter2-url-pass"
QUERY_TOKEN = "q9-reset-3b1f7c"

# What appears in the text of each shape, and the text the log must not contain.
SHAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "jwt": (JWT, (JWT, JWT.split(".")[1])),
    "bearer": (f"Bearer {OPAQUE_TOKEN}", (OPAQUE_TOKEN,)),
    **{
        f"card-{index}": (card, (card, card.replace(" ", "").replace("-", "")))
        for index, card in enumerate(CARDS)
    },
    "url-userinfo": (f"postgres://ann:{URL_PASSWORD}@db.internal:5432/app", (URL_PASSWORD,)),
    "url-query": (f"https://api.example/reset?user=ann&token={QUERY_TOKEN}&x=1", (QUERY_TOKEN,)),
}


@dataclasses.dataclass
class _Reply:
    detail: str


class _ReplyModel(pydantic.BaseModel):
    detail: str


class _ReprHolds:
    """An object the renderer can only write as its repr, which holds the text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"<UpstreamReply {self.text}>"


def _deep(value: object, levels: int = 25) -> object:
    for _ in range(levels):
        value = {"level": value}
    return value


log = get_logger("tests.secrets")


def _raise(exc: Exception) -> None:
    try:
        raise exc
    except Exception:
        log.exception("operation failed")


def _timed_with_metadata(text: str) -> None:
    with (
        FlextContext.Request.request_context(request_id="req-1", metadata={"upstream": text}),
        FlextContext.Performance.timed_operation("charge"),
    ):
        FlextContext.Performance.add_operation_metadata("upstream_reply", text)
        log.info("context", full=FlextContext.Serialization.get_full_context())


def _timed_with_metadata_key(secret: str) -> None:
    with (
        FlextContext.Request.request_context(metadata={"access_token": secret}),
        FlextContext.Performance.timed_operation("charge"),
    ):
        FlextContext.Performance.add_operation_metadata("password", secret)
        log.info("context", full=FlextContext.Serialization.get_full_context())


# Each position puts the text of a shape somewhere a record can carry it.
POSITIONS: dict[str, Callable[[str], None]] = {
    "message": lambda text: log.info(f"calling upstream with {text} now"),
    "percent_args": lambda text: log.info("calling upstream with %s", text),
    "field": lambda text: log.info("called", note=text),
    "nested_dict": lambda text: log.info("called", request={"body": {"detail": text}}),
    "list_and_tuple": lambda text: log.info("called", items=["a", ("b", text)]),
    "header_dict": lambda text: log.info("called", headers={"X-Forwarded-Auth": text}),
    "exception_message": lambda text: _raise(ValueError(f"rejected {text}")),
    "exception_context": lambda text: _raise(FlextExceptions("declined", payment_detail=text)),
    "bound_context": lambda text: log.bind(upstream_auth=text).info("bound"),
    "request_metadata": _timed_with_metadata,
    "stdlib_message": lambda text: logging.getLogger("tests.secrets.std").warning("got %s", text),
    "stdlib_extra": lambda text: logging.getLogger("tests.secrets.std").warning(
        "got", extra={"upstream": {"auth": text}}
    ),
    "extra": lambda text: log.info("called", extra={"upstream": text}),
    "set": lambda text: log.info("called", values={"plain", text}),
    "frozenset": lambda text: log.info("called", values=frozenset({text})),
    "bytes": lambda text: log.info("called", body=text.encode()),
    "bytearray": lambda text: log.info("called", body=bytearray(text.encode())),
    "deque": lambda text: log.info("called", items=collections.deque(["a", text])),
    "exception_field": lambda text: log.info("called", failure=ValueError(f"rejected {text}")),
    "dataclass": lambda text: log.info("called", reply=_Reply(text)),
    "pydantic_model": lambda text: log.info("called", reply=_ReplyModel(detail=text)),
    "object_repr": lambda text: log.info("called", reply=_ReprHolds(text)),
    "deeper_than_20": lambda text: log.info("called", tree=_deep({"detail": text})),
}


@pytest.mark.parametrize("output_format", ["json", "logfmt", "console"])
@pytest.mark.parametrize("position", sorted(POSITIONS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_secret_shape_never_appears_in_the_output(
    shape: str, position: str, output_format: str
) -> None:
    """A JWT, bearer token or card number is replaced wherever it is logged, in any format."""
    text, forbidden = SHAPES[shape]
    stream = io.StringIO()
    configure(format=output_format, stream=stream, level="DEBUG")
    POSITIONS[position](text)
    output = stream.getvalue()
    assert output
    for secret in forbidden:
        assert secret not in output
    assert REDACTED in output


@dataclasses.dataclass(frozen=True)
class _Creds:
    user: str
    password: str


class _CredsModel(pydantic.BaseModel):
    name: str
    pwd: str


class _ReprCreds:
    """Only its repr says what it holds: ``Creds(user='ann', password='...')``."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return f"Creds(user='ann', password={self.secret!r})"


# Key-based secrets: a value of any shape under a secret-looking key.
KEY_POSITIONS: dict[str, Callable[[str], None]] = {
    "field": lambda secret: log.info("login", password=secret),
    "nested": lambda secret: log.info("call", config={"service": {"api_key": secret}}),
    "in_list": lambda secret: log.info("call", accounts=[{"client_secret": secret}]),
    "header": lambda secret: log.info("call", headers={"Authorization": secret}),
    "bound": lambda secret: log.bind(session_token=secret).info("bound"),
    "exception_context": lambda secret: _raise(FlextExceptions("denied", password=secret)),
    "request_metadata": _timed_with_metadata_key,
    "stdlib_extra": lambda secret: logging.getLogger("tests.secrets.std").warning(
        "got", extra={"cookie": secret}
    ),
    "camel_case": lambda secret: log.info("login", accessToken=secret),
    "glued_upper_case": lambda secret: log.info("env", env={"PGPASSWORD": secret}),
    "dataclass_field": lambda secret: log.info("login", creds=_Creds("ann", secret)),
    "pydantic_field": lambda secret: log.info("login", user=_CredsModel(name="ann", pwd=secret)),
    "object_repr": lambda secret: log.info("login", user=_ReprCreds(secret)),
    "dict_repr_in_message": lambda secret: log.info(f"config {{'db_password': '{secret}'}}"),
    "json_in_a_field": lambda secret: log.info("raw", body=json.dumps({"apiKey": secret})),
    "json_in_bytes": lambda secret: log.info("raw", body=json.dumps({"token": secret}).encode()),
    "query_in_message": lambda secret: log.info(f"GET /login?user=ann&password={secret}"),
    "assignment_in_text": lambda secret: log.info("cmd", argv=f"psql --password={secret} app"),
    "deeper_than_20": lambda secret: log.info("tree", tree=_deep({"password": secret})),
    "set_of_reprs": lambda secret: log.info("login", users={_ReprCreds(secret)}),
}


@pytest.mark.parametrize("output_format", ["json", "logfmt", "console"])
@pytest.mark.parametrize("position", sorted(KEY_POSITIONS))
def test_value_under_a_secret_key_never_appears(position: str, output_format: str) -> None:
    """A plain value under a secret-looking key is replaced at any depth, in any format."""
    stream = io.StringIO()
    configure(format=output_format, stream=stream)
    KEY_POSITIONS[position](PASSWORD)
    output = stream.getvalue()
    assert output
    assert PASSWORD not in output
    assert REDACTED in output


@pytest.mark.parametrize(
    "text",
    [
        "the bearer of bad news",
        "Bearer",
        "bearer token missing",
        "Authorization scheme must be Bearer.",
        "Bearer Authentication failed",
        "order 4111111111111112 is not a card",  # fails the Luhn check
        "timestamp 1700000000000 ms",  # starts with 1: no card network
        "phone +49 30 1234567",
        "id 8f14e45fceea167a5a36dedd4bea2543",
        "sku-4111111111111111x",  # part of a longer word
        "12345678901234567890123",  # longer than any card
        # UUIDs whose first three groups are digits, 16 of them and Luhn-valid (a Celery
        # task id, a request id): the groups are not a card's (it starts with 4 digits).
        "task 23728934-9013-4529-8d06-0caa8f4d7e4d succeeded",
        "Task stack.work[55171548-8679-4759-98f1-cfad6f3cd22d] succeeded in 0.0001s: 271",
        "eyJ is how base64 JSON starts",
        "see https://example.com/docs?page=2&lang=en",
        "mail ann@example.com about http://example.com/@team",
        "tokens_used=5 max_tokens=100 passage=3",
        "author=ann keyboard=de primary_key=7",
        "the password field is required",
        "session: started",
    ],
)
def test_look_alike_text_is_left_alone(text: str) -> None:
    """Text that only resembles a secret shape is written unchanged."""
    assert Redactor().redact_text(text) == text


def test_no_uuid_is_taken_for_a_card() -> None:
    """UUIDs whose 16 leading digits (8-4-4) pass the Luhn check stay whole: ids, not cards."""
    chooser = random.Random(15)
    for _ in range(200):
        head = str(chooser.randint(2, 6)) + "".join(chooser.choice("0123456789") for _ in range(14))
        head += next(d for d in "0123456789" if _luhn(head + d))
        text = f"{head[:8]}-{head[8:12]}-{head[12:]}-{uuid.uuid4().hex[:4]}-{uuid.uuid4().hex[:12]}"
        assert Redactor().redact_text(f"task {text} ok") == f"task {text} ok"


def _luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def test_a_card_after_another_group_of_digits_is_still_found() -> None:
    """A card whose run of digits starts with a group that is not a card's own."""
    task = "task 23728934-9013-4529-8d06-0caa8f4d7e4d"
    assert (
        Redactor().redact_text(f"ref 55 4111 1111 1111 1111, {task}")
        == f"ref 55 {REDACTED}, {task}"
    )


@pytest.mark.parametrize("key", ["author", "monkey", "primary_key", "tokens_used", "keyboard"])
def test_look_alike_keys_are_left_alone(key: str, json_stream: tuple[io.StringIO, Any]) -> None:
    """Keys that only resemble secret names keep their values."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    log.info("m", **{key: "visible"})
    assert records()[0][key] == "visible"


def test_bearer_redaction_keeps_the_scheme() -> None:
    """Only the token after "Bearer" is replaced, so the text still says what it was."""
    assert Redactor().redact_text(f"Authorization: Bearer {BEARER_TOKEN}xyz") == (
        f"Authorization: Bearer {REDACTED}"
    )


def test_redact_patterns_add_to_the_built_in_shapes() -> None:
    """configure(redact_patterns=...) replaces matches of extra regexes, keeping the defaults."""
    stream = io.StringIO()
    configure(format="json", stream=stream, redact_patterns=[r"\bAKIA[0-9A-Z]{16}\b", r"ssn=\d+"])
    log.info("keys AKIAIOSFODNN7EXAMPLE and ssn=123456789", jwt=JWT, short="ssn=1")
    record = json.loads(stream.getvalue())
    assert record[keys.MESSAGE] == f"keys {REDACTED} and {REDACTED}"
    assert record["jwt"] == REDACTED
    assert record["short"] == REDACTED


def test_redaction_false_turns_value_patterns_off_too() -> None:
    """With redaction=False a JWT in a field is written as it is."""
    stream = io.StringIO()
    configure(format="json", stream=stream, redaction=False)
    log.info("m", jwt=JWT)
    assert json.loads(stream.getvalue())["jwt"] == JWT


def test_context_ids_are_not_scanned_for_shapes(json_stream: tuple[io.StringIO, Any]) -> None:
    """A request id made of 16 Luhn-valid digits is an id, not a card: it stays."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    with FlextContext.Request.request_context(request_id="4111111111111111"):
        log.info("m")
    assert records()[0][keys.REQUEST_ID] == "4111111111111111"


def test_redactor_keeps_unchanged_strings_and_containers_as_they_are() -> None:
    """A value with nothing to redact is passed on as the same object."""
    value = {"a": ["a long string without secrets in it", ("x" * 40,)]}
    record = Redactor()(None, "info", {"value": value, keys.MESSAGE: "m" * 40})
    assert record["value"] is value
