"""The Redactor: which names are secret, which text is, and how values are walked."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import pytest

from flext_logging import configure, get_logger, keys
from flext_logging.processors import DEFAULT_REDACT_KEYS as REEXPORTED_KEYS
from flext_logging.processors import REDACTED as REEXPORTED_REDACTED
from flext_logging.processors import Redactor as ReexportedRedactor
from flext_logging.redaction import (
    DEFAULT_REDACT_KEYS,
    LOOK_ALIKES,
    REDACTED,
    SECRET_LAST_WORDS,
    SECRET_WORDS,
    Redactor,
    name_words,
)

JsonStream = tuple[io.StringIO, Callable[[], list[dict[str, Any]]]]


def test_processors_keeps_exporting_the_redactor() -> None:
    """Code that imported the redactor from processors keeps working."""
    assert (ReexportedRedactor, REEXPORTED_REDACTED, REEXPORTED_KEYS) == (
        Redactor,
        REDACTED,
        DEFAULT_REDACT_KEYS,
    )


# -- Names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("accessToken", ["access", "token"]),
        ("APIKey", ["api", "key"]),
        ("x-api-key", ["x", "api", "key"]),
        ("PGPASSWORD", ["pgpassword"]),
        ("db.password_2", ["db", "password", "2"]),
        ("XMLHttpRequest", ["xml", "http", "request"]),
    ],
)
def test_names_split_into_lower_case_words(name: str, words: list[str]) -> None:
    """Separators, camelCase and acronyms split a name the way a reader reads it."""
    assert name_words(name) == words


SECRET_NAMES = [
    # the list: every one leaked before
    "accessToken",
    "db_password",
    "DB_PASSWORD",
    "PGPASSWORD",
    "aws_secret_access_key",
    "secret_key",
    "client-secret",
    "api_secret",
    "passphrase",
    "privateKey",
    "refreshToken",
    "sessionToken",
    "credentials",
    "jwt",
    "cookies",
    # the former list, whatever the spelling
    "password",
    "PASSWORD",
    "Password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "access_token",
    "Refresh_Token",
    "csrf-token",
    "api_key",
    "Api-Key",
    "X-API-KEY",
    "apikey",
    "Authorization",
    "Proxy-Authorization",
    "cookie",
    "Set-Cookie",
    "session",
    "sessionid",
    "session_id",
    "private_key",
    "client_secret",
    "credit_card",
    "card_number",
    # glued, plural, last words
    "dbpassword",
    "xapikey",
    "passwordHash",
    "user_passwords",
    "basic_auth",
    "db_pass",
    "user_session",
    "X-Hub-Signature",
    "aws_access_key_id",
    "oauth2Token",
    "mysql_pwd",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_recognised_in_any_spelling(name: str) -> None:
    """Case, separators, camelCase, glued words and plurals do not hide a secret name."""
    record = Redactor()(None, "info", {keys.MESSAGE: "login", name: "hunter2", "user": "ada"})
    assert record == {keys.MESSAGE: "login", name: REDACTED, "user": "ada"}


LOOK_ALIKE_NAMES = [
    "author",
    "monkey",
    "primary_key",
    "keyboard",
    "keys",
    "passenger",
    "passage",
    "tokenizer",
    "tokenizer_name",
    "tokens_used",
    "token_count",
    "max_tokens",
    "prompt_tokens",
    "completionTokens",
    "auth_type",
    "session_duration_ms",
    "signature_version",
    "pass_rate",
    "compass",
    "secretary",
    "authority",
]


@pytest.mark.parametrize("name", LOOK_ALIKE_NAMES)
def test_look_alike_names_keep_their_values(name: str) -> None:
    """Names that merely contain a secret word, or count tokens, are not redacted."""
    record = Redactor()(None, "info", {name: "visible"})
    assert record == {name: "visible"}


def test_every_documented_word_is_secret_and_every_look_alike_is_not() -> None:
    """The lists in the docs are the lists in force."""
    redactor = Redactor()
    assert [w for w in SECRET_WORDS if not redactor.is_secret(w)] == []
    assert [w for w in SECRET_LAST_WORDS if not redactor.is_secret(f"user_{w}")] == []
    assert [w for w in LOOK_ALIKES if redactor.is_secret(w)] == []
    assert DEFAULT_REDACT_KEYS == SECRET_WORDS + SECRET_LAST_WORDS


def test_redact_keys_add_words_and_globs_to_the_defaults() -> None:
    """A word matches like the built-in ones, a glob the whole name; defaults stay."""
    redactor = Redactor(["ssn", "card_pin", "x-internal-*"])
    secret = ["ssn", "user_SSN", "cardPin", "X-Internal-Trace", "password"]
    assert [name for name in secret if not redactor.is_secret(name)] == []
    assert not redactor.is_secret("lesson")


@pytest.mark.parametrize(
    ("redact_keys", "secret", "kept"),
    [
        (["ssn"], "SSN", "password"),
        (["*_pin"], "card_pin", "token"),
        (["x-?"], "X-A", "cookie"),
    ],
)
def test_redact_default_keys_false_uses_only_the_keys_given(
    redact_keys: list[str], secret: str, kept: str
) -> None:
    """With redact_default_keys=False the given keys replace the built-in ones."""
    redactor = Redactor(redact_keys, redact_default_keys=False)
    record = redactor(None, "info", {secret: "s", kept: "k"})
    assert record == {secret: REDACTED, kept: "k"}


def test_configure_redact_keys_adds_to_the_defaults(json_stream: JsonStream) -> None:
    """configure(redact_keys=[...]) redacts those keys and still the built-in ones."""
    stream, records = json_stream
    configure(format="json", stream=stream, redact_keys=["ssn"])
    get_logger("tests.redact").info("custom", ssn="123", password="p", plan="pro")
    (record,) = records()
    assert (record["ssn"], record["password"], record["plan"]) == (REDACTED, REDACTED, "pro")


def test_configure_can_replace_the_default_keys(json_stream: JsonStream) -> None:
    """configure(redact_keys=[...], redact_default_keys=False) redacts only those keys."""
    stream, records = json_stream
    configure(format="json", stream=stream, redact_keys=["ssn"], redact_default_keys=False)
    get_logger("tests.redact").info("custom", ssn="123", password="visible")
    (record,) = records()
    assert (record["ssn"], record["password"]) == (REDACTED, "visible")


def test_configure_redaction_false_disables_redaction(json_stream: JsonStream) -> None:
    """configure(redaction=False) writes secret-looking values as given."""
    stream, records = json_stream
    configure(format="json", stream=stream, redaction=False)
    get_logger("tests.redact").info("raw", password="p", nested={"token": "t"})
    (record,) = records()
    assert (record["password"], record["nested"]) == ("p", {"token": "t"})


def test_default_configuration_redacts_secrets(json_stream: JsonStream) -> None:
    """Without redaction options, the default secret names are redacted."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    get_logger("tests.redact").info("login", password="p", user="ada")
    (record,) = records()
    assert (record["password"], record["user"]) == (REDACTED, "ada")


def test_secret_names_are_redacted_after_the_name_memo_is_full() -> None:
    """Past 10,000 distinct names the answers are not remembered, but still given."""
    redactor = Redactor()
    redactor(None, "info", {f"field_{n}": n for n in range(10_000)})
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    record = redactor(None, "info", {"late_password": "p", "late_user": "ada", jwt: 1})
    assert record == {"late_password": REDACTED, "late_user": "ada", REDACTED: 1}
    assert redactor.is_secret("another_token")
    assert redactor(None, "info", {"x": {"another_token": "t"}}) == {
        "x": {"another_token": REDACTED}
    }


def test_the_record_head_is_never_redacted() -> None:
    """Head keys are left alone even when the redaction list names them."""
    redactor = Redactor(["message", "level"])
    record = redactor(None, "info", {keys.MESSAGE: "m", keys.LEVEL: "info"})
    assert record == {keys.MESSAGE: "m", keys.LEVEL: "info"}


# -- Values -----------------------------------------------------------------------------------


def test_nested_dicts_lists_and_tuples_are_walked() -> None:
    """Secrets inside nested dicts, lists and tuples are redacted; containers keep their type."""
    value = {
        "headers": {"Authorization": "Bearer abc", "Accept": "json"},
        "attempts": [{"password": "p1"}, {"user": "ada"}],
        "pair": ({"token": "t"}, "plain"),
    }
    record = Redactor()(None, "info", {"request": value})
    assert record["request"] == {
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "attempts": [{"password": REDACTED}, {"user": "ada"}],
        "pair": ({"token": REDACTED}, "plain"),
    }
    assert isinstance(record["request"]["pair"], tuple)


def test_the_callers_objects_are_never_modified(json_stream: JsonStream) -> None:
    """Nested values the caller passed are copied before redaction, never changed in place."""
    stream, records = json_stream
    configure(format="json", stream=stream)
    payload = {"user": {"name": "ada", "password": "p"}, "items": [{"api_key": "k"}]}
    original = copy.deepcopy(payload)
    get_logger("tests.redact").info("payload", payload=payload)
    assert payload == original
    (record,) = records()
    assert record["payload"] == {
        "user": {"name": "ada", "password": REDACTED},
        "items": [{"api_key": REDACTED}],
    }


def test_unchanged_containers_are_passed_on_as_they_are() -> None:
    """A container with nothing to redact is passed on as the same object, not a copy."""
    value = {"a": [1, 2, {"b": 3}], "s": "a long string without secrets in it"}
    record = Redactor()(None, "info", {"value": value, keys.MESSAGE: "m" * 40})
    assert record["value"] is value


class _Point:
    def __init__(self, x: int) -> None:
        self.x = x

    def __repr__(self) -> str:
        return f"Point(x={self.x})"


def test_values_with_nothing_to_redact_are_passed_on_as_themselves() -> None:
    """A clean set, bytes, exception or object reaches the renderer (or an encoder) as is."""
    values = {"tags": {"a", "b"}, "body": b"ok body", "failure": ValueError("no"), "p": _Point(1)}
    record = Redactor()(None, "info", dict(values))
    assert all(record[key] is value for key, value in values.items())


def test_values_with_a_secret_become_the_redacted_data_written() -> None:
    """With a secret inside, the value becomes the data the renderer would have written."""
    values = {
        "tags": {"a", "password=hunter2"},
        "body": b'{"token": "t0k3n"}',
        "p": _PointWithSecret(),
    }
    record = Redactor()(None, "info", values)
    assert record == {
        "tags": ["a", "password=[REDACTED]"],
        "body": '{"token": "[REDACTED]"}',
        "p": "Conn(dsn='postgres://[REDACTED]@db/app')",
    }


class _PointWithSecret:
    def __repr__(self) -> str:
        return "Conn(dsn='postgres://ann:pw@db/app')"


def test_non_string_keys_are_walked() -> None:
    """Mappings with non-string keys are walked; a key is written as its text."""
    record = Redactor()(None, "info", {"data": {1: "one", "token": "t", ("a",): "x"}})
    assert record["data"] == {1: "one", "token": REDACTED, "('a',)": "x"}


def test_a_container_that_contains_itself_is_cut_at_the_repeat() -> None:
    """A cycle ends in a marker, as the JSON fallback writes it; the redactor never loops."""
    looping: dict[str, Any] = {"name": "loop"}
    looping["self"] = looping
    record = Redactor()(None, "info", {"value": looping, "items": [looping]})
    assert record["value"] == {"name": "loop", "self": "<cycle dict>"}
    assert record["items"] == [{"name": "loop", "self": "<cycle dict>"}]


def test_a_name_holding_a_secret_shape_is_written_redacted() -> None:
    """A JWT used as a dict key (or field name) does not leak through the key."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    record = Redactor()(None, "info", {"owners": {jwt: "ada"}, jwt: 1})
    assert record == {"owners": {REDACTED: "ada"}, REDACTED: 1}


# -- Text -------------------------------------------------------------------------------------

DENSE_QUERY = "&".join(f"p{n}={n}" for n in range(40))
TEXTS = [
    ("GET /reset?token=abc123&lang=en", "GET /reset?token=[REDACTED]&lang=en"),
    ("postgres://ann:pw@db:5432/app", "postgres://[REDACTED]@db:5432/app"),
    ("clone https://ghp_x1@github.com/o/r now", "clone https://[REDACTED]@github.com/o/r now"),
    ("Creds(user='ann', password='hunter2')", "Creds(user='ann', password='[REDACTED]')"),
    ("{'password': 'hunter2', 'user': 'ann'}", "{'password': '[REDACTED]', 'user': 'ann'}"),
    ('{"apiKey":"k-123","n":1}', '{"apiKey":"[REDACTED]","n":1}'),
    ('{\\"token\\":\\"abc\\",\\"n\\":1}', '{\\"token\\":\\"[REDACTED]\\",\\"n\\":1}'),
    ("psql --password=hunter2 app", "psql --password=[REDACTED] app"),
    ("PGPASSWORD=hunter2 psql", "PGPASSWORD=[REDACTED] psql"),
    ("password = hunter2", "password = [REDACTED]"),
    ("Cookie: session=abc; theme=dark", "Cookie: session=[REDACTED]; theme=dark"),
    ("it's 'quoted\\' pwd='a\\'b' end", "it's 'quoted\\' pwd='[REDACTED]' end"),
    ("Passwort für ann: password=hunter2 ü", "Passwort für ann: password=[REDACTED] ü"),
    (f"{DENSE_QUERY}&access_token=zzz&x=1", f"{DENSE_QUERY}&access_token=[REDACTED]&x=1"),
    ("password=", "password="),
    ("password= next words", "password= next words"),
    ("a=1 b=2 user=ann", "a=1 b=2 user=ann"),
]
PADDING = "words and numbers 12 34 " * 20  # past the short-text path


@pytest.mark.parametrize(("text", "expected"), TEXTS)
@pytest.mark.parametrize("padded", [False, True], ids=["short", "long"])
def test_secrets_in_text_are_replaced_and_the_rest_is_kept(
    text: str, expected: str, padded: bool
) -> None:
    """URL user info and values after secret names go; every other character stays."""
    if padded:
        text, expected = f"{PADDING} {text} {PADDING}", f"{PADDING} {expected} {PADDING}"
    assert Redactor().redact_text(text) == expected


def test_a_glob_name_is_found_in_text_too() -> None:
    """A glob of redact_keys applies to names in text, dense or not."""
    redactor = Redactor(["x-internal-*"])
    text = DENSE_QUERY + "&X-Internal-Trace=abc&y=2"
    assert redactor.redact_text(text) == DENSE_QUERY + "&X-Internal-Trace=[REDACTED]&y=2"


def test_overlapping_shapes_become_one_replacement() -> None:
    """A JWT in a secret query parameter is replaced once, not twice."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    assert Redactor().redact_text(f"/cb?id_token={jwt}&s=1") == "/cb?id_token=[REDACTED]&s=1"


def test_a_repeated_clean_text_is_answered_from_memory_with_the_object_given() -> None:
    """A clean text seen before is answered at once, as the very object passed in."""
    redactor = Redactor()
    first = "".join(["payment authorised ", "for order 1234"])
    again = "".join(["payment authorised ", "for order ", "1234"])
    assert first == again
    assert first is not again
    assert redactor.redact_text(first) is first
    assert redactor.redact_text(again) is again


def test_an_object_logged_twice_reaches_the_renderer_both_times() -> None:
    """The second record of the same clean object passes the object on, like the first."""
    redactor = Redactor()
    for _ in range(2):
        point = _Point(1)
        assert redactor(None, "info", {"p": point})["p"] is point


def test_a_field_clean_many_times_is_still_searched_when_its_value_changes() -> None:
    """The memo of clean fields answers for the same value only: a new value is searched."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    log = get_logger("memo")
    card = "4111 1111 1111 1111"
    for _ in range(50):
        log.info("charge accepted", note="paid by card", attempt=1)
    log.info("charge accepted", note=f"paid by card {card}", attempt=1)
    log.info(f"charge accepted {card}", note="paid by card", attempt=1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 52
    assert card not in "".join(lines[-2:])
    assert REDACTED in lines[-2]
    assert REDACTED in lines[-1]


def test_fields_bound_to_a_logger_or_a_scope_are_redacted() -> None:
    """Bound fields join a record on its fast path: they are searched like call fields."""
    from flext_logging import FlextContext

    stream = io.StringIO()
    configure(format="json", stream=stream)
    log = get_logger("bound").bind(api_key="k-123456789", note="Bearer abc123def456ghi789")
    with FlextContext.bound(password="hunter2", comment="fine"):
        for _ in range(3):
            log.info("call made", plain="value")
    for line in stream.getvalue().splitlines():
        assert "k-123456789" not in line
        assert "hunter2" not in line
        assert "abc123def456ghi789" not in line
        assert '"comment":"fine"' in line
        assert '"plain":"value"' in line


def test_the_memo_of_clean_fields_stays_bounded_and_right() -> None:
    """Thousands of distinct clean values (past the memo's size), then a secret under a
    name seen each time: redacted."""
    redactor = Redactor()
    for number in range(10_000):
        fields = {"order": f"order-{number}", "n": number}
        assert redactor.redact_fields(fields) == fields
    assert redactor.redact_fields({"order": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}) == {
        "order": REDACTED
    }


def test_the_minimal_record_of_a_failed_processor_has_its_message_redacted() -> None:
    """A user processor that raises leaves a minimal record: its message is redacted too
    (it is written before the redaction step would have run)."""

    def broken(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("processor bug")

    stream = io.StringIO()
    configure(format="json", stream=stream, processors=[broken])
    get_logger("fallback").info("called with Bearer abc123def456ghi789 in it")
    line = stream.getvalue()
    assert "processor bug" in line
    assert "abc123def456ghi789" not in line
    assert "called with" in line
