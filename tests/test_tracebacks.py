"""tracebacks: any exception becomes bounded, JSON-safe data."""

from __future__ import annotations

import builtins
import itertools
import json
import sys
from typing import Any

import pytest

from flext_logging import FlextExceptions
from flext_logging.exceptions import ErrorHandlingConfig
from flext_logging.tracebacks import MAX_CHAIN, exception_data, resolve_exc_info

_ExceptionGroup: Any = getattr(builtins, "ExceptionGroup", None)
needs_exception_groups = pytest.mark.skipif(
    _ExceptionGroup is None, reason="ExceptionGroup is new in Python 3.11"
)


class CustomError(Exception):
    """An application error defined outside the builtins."""


class BrokenStrError(Exception):
    """An error whose ``__str__`` fails."""

    def __str__(self) -> str:
        raise RuntimeError("str is broken")


class BrokenStrAndReprError(BrokenStrError):
    """An error whose ``__str__`` and ``__repr__`` both fail."""

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


def _raise_value_error() -> None:
    raise ValueError("boom")


def _raise_at_depth(depth: int) -> None:
    if depth == 0:
        secret_local = "visible only with show_locals"
        raise ValueError(f"deep, {len(secret_local)} chars hidden")
    _raise_at_depth(depth - 1)


def _caught(func: object, *args: object) -> BaseException:
    """Call *func* and return the exception it raised (with its traceback)."""
    try:
        func(*args)  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("expected an exception")


def _chain_depth(data: dict[str, object]) -> int:
    depth = 0
    node: object = data
    while isinstance(node, dict):
        node = node.get("cause", node.get("during"))
        depth += 1
    return depth


def test_plain_error_has_type_message_and_stack_of_its_frames() -> None:
    """A builtin error gives its bare type name, its message and the frames it passed."""
    data = exception_data(_caught(_raise_value_error))
    assert data["type"] == "ValueError"
    assert data["message"] == "boom"
    innermost = data["stack"][-1]
    assert innermost["file"] == __file__
    assert innermost["function"] == "_raise_value_error"
    assert isinstance(innermost["line"], int)
    assert "code" not in data
    assert "context" not in data


def test_non_builtin_error_type_is_qualified_with_its_module() -> None:
    """An error class defined in a module is named ``module.QualName``."""
    data = exception_data(CustomError("x"))
    assert data["type"] == f"{__name__}.CustomError"


def test_flext_error_adds_code_context_and_correlation_id() -> None:
    """A flext error carries its code, its context and its correlation id."""
    error = FlextExceptions("bad email", field="email", correlation_id="corr-1", attempt=2)
    data = exception_data(error)
    assert data["type"] == "flext_logging.exceptions.ValidationError"
    assert data["message"] == "bad email"
    assert data["code"] == "FLEXT_VALIDATION_ERROR"
    assert data["context"] == {"field": "email", "attempt": 2}
    assert data["correlation_id"] == "corr-1"


def test_flext_error_context_is_made_json_safe() -> None:
    """Odd values in a flext error's context come out as JSON-serialisable data."""
    error = FlextExceptions.Error("odd", context={"tags": {"b", "a"}, "obj": object()})
    data = exception_data(error)
    json.dumps(data)
    assert data["context"]["tags"] == ["a", "b"]
    assert data["context"]["obj"].startswith("<object object at")


def test_explicit_cause_appears_under_cause() -> None:
    """``raise ... from`` puts the original error under ``cause`` and nothing under ``during``."""
    try:
        try:
            raise KeyError("missing")
        except KeyError as original:
            raise RuntimeError("lookup failed") from original
    except RuntimeError as exc:
        data = exception_data(exc)
    assert data["cause"]["type"] == "KeyError"
    assert data["cause"]["message"] == "'missing'"
    assert "during" not in data


def test_error_raised_while_handling_another_appears_under_during() -> None:
    """An error raised in an ``except`` block shows the handled one under ``during``."""
    try:
        try:
            raise KeyError("missing")
        except KeyError:
            _raise_value_error()
    except ValueError as exc:
        data = exception_data(exc)
    assert data["message"] == "boom"
    assert data["during"]["type"] == "KeyError"
    assert "cause" not in data


def test_suppressed_context_is_left_out() -> None:
    """``raise ... from None`` shows neither ``cause`` nor ``during``."""
    try:
        try:
            raise KeyError("missing")
        except KeyError:
            raise RuntimeError("clean") from None
    except RuntimeError as exc:
        data = exception_data(exc)
    assert "cause" not in data
    assert "during" not in data


@pytest.mark.parametrize("link", ["__cause__", "__context__"])
def test_cycle_in_the_chain_ends(link: str) -> None:
    """Two errors linked to each other are each described once, without looping."""
    first, second = ValueError("first"), KeyError("second")
    setattr(first, link, second)
    setattr(second, link, first)
    data = exception_data(first)
    nested = data.get("cause", data.get("during"))
    assert nested["message"] == "'second'"
    assert "cause" not in nested
    assert "during" not in nested


def test_error_that_is_its_own_cause_is_described_once() -> None:
    """An error whose cause is itself gives one level of data."""
    error = ValueError("self")
    error.__cause__ = error
    data = exception_data(error)
    assert data["message"] == "self"
    assert "cause" not in data


def test_long_chain_is_cut_after_the_chain_limit() -> None:
    """A chain longer than the limit is followed only MAX_CHAIN links deep."""
    errors = [ValueError(f"e{index}") for index in range(MAX_CHAIN * 3)]
    for outer, inner in itertools.pairwise(errors):
        outer.__cause__ = inner
    data = exception_data(errors[0])
    assert _chain_depth(data) == MAX_CHAIN + 1


@needs_exception_groups
def test_exception_group_lists_its_members() -> None:
    """An ExceptionGroup lists each member, described the same way, under ``exceptions``."""
    group = _ExceptionGroup("many", [ValueError("a"), FlextExceptions("b", resource_id="7")])
    data = exception_data(group)
    assert data["message"] == "many (2 sub-exceptions)"
    assert [member["type"] for member in data["exceptions"]] == [
        "ValueError",
        "flext_logging.exceptions.NotFoundError",
    ]
    assert data["exceptions"][1]["code"] == "FLEXT_NOT_FOUND_ERROR"


@needs_exception_groups
def test_group_containing_itself_does_not_loop() -> None:
    """A group whose member chain leads back to the group is described once."""
    member = ValueError("member")
    group = _ExceptionGroup("outer", [member])
    member.__context__ = group
    data = exception_data(group)
    assert data["exceptions"][0]["message"] == "member"
    assert "during" not in data["exceptions"][0]


def test_frames_beyond_the_limit_are_omitted_keeping_the_innermost() -> None:
    """With max_frames, only the innermost frames are kept and the rest are counted."""
    exc = _caught(_raise_at_depth, 10)
    full = exception_data(exc, ErrorHandlingConfig(max_frames=100))["stack"]
    bounded = exception_data(exc, ErrorHandlingConfig(max_frames=3))
    assert len(full) == 12  # _caught, then 11 calls of _raise_at_depth
    assert bounded["stack"] == full[-3:]
    assert bounded["frames_omitted"] == 9
    assert bounded["stack"][-1]["function"] == "_raise_at_depth"


def test_frames_within_the_limit_report_nothing_omitted() -> None:
    """A stack shorter than max_frames is kept whole without a ``frames_omitted`` key."""
    data = exception_data(_caught(_raise_at_depth, 2), ErrorHandlingConfig(max_frames=50))
    assert len(data["stack"]) == 4
    assert "frames_omitted" not in data


def test_frames_have_no_locals_by_default() -> None:
    """Local variables stay out of the data unless show_locals is on."""
    data = exception_data(_caught(_raise_at_depth, 1), ErrorHandlingConfig())
    assert all("locals" not in frame for frame in data["stack"])
    assert "visible only with show_locals" not in json.dumps(data)


def test_show_locals_adds_bounded_reprs_of_frame_locals() -> None:
    """With show_locals each frame lists its locals as reprs, long ones cut."""
    exc = _caught(_raise_at_depth, 1)
    data = exception_data(exc, ErrorHandlingConfig(show_locals=True))
    innermost = data["stack"][-1]
    assert innermost["locals"]["secret_local"] == "'visible only with show_locals'"
    assert innermost["locals"]["depth"] == "0"

    def fail_with_long_local() -> None:
        long_local = "x" * 1000
        raise ValueError(len(long_local))

    long_data = exception_data(_caught(fail_with_long_local), ErrorHandlingConfig(show_locals=True))
    assert len(long_data["stack"][-1]["locals"]["long_local"]) <= 200


def test_disabled_stack_traces_leave_out_the_stack() -> None:
    """With enable_stack_traces off there is no ``stack`` but type and message remain."""
    data = exception_data(
        _caught(_raise_at_depth, 60), ErrorHandlingConfig(enable_stack_traces=False)
    )
    assert "stack" not in data
    assert "frames_omitted" not in data
    assert data["message"] == "deep, 29 chars hidden"


def test_long_message_is_cut_with_a_truncation_mark() -> None:
    """A long message is cut to max_error_details characters ending in a truncation mark."""
    data = exception_data(ValueError("y" * 500), ErrorHandlingConfig(max_error_details=50))
    assert data["message"] == "y" * 36 + "...[truncated]"


@pytest.mark.parametrize("limit", [1, 5, 13, 14, 15, 50, 499])
def test_message_never_exceeds_max_error_details(limit: int) -> None:
    """However small max_error_details is, the message is at most that long."""
    data = exception_data(ValueError("y" * 500), ErrorHandlingConfig(max_error_details=limit))
    assert 0 < len(data["message"]) <= limit


def test_broken_str_falls_back_to_repr() -> None:
    """An error whose ``__str__`` raises is still described, by its repr."""
    data = exception_data(BrokenStrError("payload"))
    assert data["type"] == f"{__name__}.BrokenStrError"
    assert data["message"] == "BrokenStrError('payload')"


def test_broken_str_and_repr_still_yield_a_placeholder_message() -> None:
    """An error whose ``__str__`` and ``__repr__`` both raise gets a placeholder message."""
    data = exception_data(BrokenStrAndReprError("payload"))
    assert data["message"] == "<unrepresentable BrokenStrAndReprError: RuntimeError>"
    json.dumps(data)


def test_exception_data_is_json_serialisable() -> None:
    """The data of a chained, raised error encodes as JSON."""
    try:
        try:
            _raise_value_error()
        except ValueError as inner:
            raise FlextExceptions("wrapped", operation="sync") from inner
    except FlextExceptions.BaseError as exc:
        data = exception_data(exc)
    decoded = json.loads(json.dumps(data))
    assert decoded["cause"]["message"] == "boom"
    assert decoded["code"] == "FLEXT_OPERATION_ERROR"


def test_resolve_exc_info_true_gives_the_exception_being_handled() -> None:
    """``exc_info=True`` inside an ``except`` block designates the handled exception."""
    error = ValueError("handled")
    try:
        raise error
    except ValueError:
        assert resolve_exc_info(True) is error


def test_resolve_exc_info_accepts_an_exc_info_tuple() -> None:
    """A ``sys.exc_info()`` tuple designates its exception."""
    error = KeyError("k")
    try:
        raise error
    except KeyError:
        info = sys.exc_info()
    assert resolve_exc_info(info) is error


def test_resolve_exc_info_accepts_an_instance() -> None:
    """An exception instance designates itself, raised or not."""
    error = RuntimeError("never raised")
    assert resolve_exc_info(error) is error


@pytest.mark.parametrize(
    "value",
    [None, False, True, (None, None, None), ("not", "an", "exc"), "error", 1],
    ids=["none", "false", "true-outside-except", "empty-tuple", "odd-tuple", "str", "int"],
)
def test_resolve_exc_info_designates_nothing_for_other_values(value: object) -> None:
    """Values that name no exception (and True with none being handled) give None."""
    assert resolve_exc_info(value) is None


@pytest.mark.parametrize(
    ("notes", "expected"),
    [
        (["first", "second"], ["first", "second"]),
        (("as", "tuple"), ["as", "tuple"]),
        ([b"bytes", 3], ["b'bytes'", "3"]),
        ("not a list", None),
        ([], None),
        ([f"n{i}" for i in range(50)], [f"n{i}" for i in range(20)]),
    ],
    ids=["list", "tuple", "not-strings", "a-string", "empty", "many"],
)
def test_exception_notes_are_listed_under_notes(notes: object, expected: list[str] | None) -> None:
    """__notes__ (add_note()) are written in order, bounded; odd values never break it."""
    error = ValueError("bad")
    error.__notes__ = notes  # type: ignore[attr-defined]  # what add_note() sets, or any code
    data = exception_data(error)
    assert data.get("notes") == expected
    assert data["message"] == "bad"
