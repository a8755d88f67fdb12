"""FlextResult: a value or an error, never mistaken for one another."""

from __future__ import annotations

from typing import Any

import pytest

from flext_logging import FlextResult


def test_ok_result_reports_success_and_holds_its_value() -> None:
    """An ok result is a success, not a failure, and hands back the value it was given."""
    payload = {"user": "u1"}
    result = FlextResult.ok(payload)
    assert result.is_success is True
    assert result.success is True
    assert result.is_failure is False
    assert result.failure is False
    assert result.value is payload
    assert result.error is None
    assert bool(result) is True


def test_failed_result_reports_failure_and_carries_its_error() -> None:
    """A failed result is a failure, not a success, and carries the error message."""
    result: FlextResult[int] = FlextResult.fail("disk full")
    assert result.is_failure is True
    assert result.failure is True
    assert result.is_success is False
    assert result.success is False
    assert result.error == "disk full"
    assert bool(result) is False


def test_reading_the_value_of_a_failure_raises_with_the_error() -> None:
    """Reading ``value`` of a failure raises ValueError naming the error, never returns None."""
    result: FlextResult[str] = FlextResult.fail("no such user")
    with pytest.raises(ValueError, match="no such user"):
        _ = result.value


@pytest.mark.parametrize("value", [None, 0, "", False, []])
def test_ok_with_a_falsy_value_is_still_a_success(value: object) -> None:
    """A success holding a falsy value (even None) is a success whose value reads back."""
    result = FlextResult.ok(value)
    assert result.is_success
    assert result.value == value
    assert result.error is None


def test_fail_with_an_empty_message_still_fails_with_a_message() -> None:
    """An empty error message becomes 'unknown error' so the failure is never a success."""
    result: FlextResult[int] = FlextResult.fail("")
    assert result.is_failure
    assert result.error == "unknown error"


def test_subscripted_class_builds_results_like_the_plain_class() -> None:
    """``FlextResult[dict].ok(...)`` and ``.fail(...)`` work and build FlextResult instances."""
    ok = FlextResult[dict[str, Any]].ok({"format": "json"})
    failed = FlextResult[dict[str, Any]].fail("bad")
    assert isinstance(ok, FlextResult)
    assert isinstance(failed, FlextResult)
    assert ok.value == {"format": "json"}
    assert failed.error == "bad"


@pytest.mark.parametrize(
    ("result", "expected"),
    [(FlextResult.ok(5), 5), (FlextResult.fail("nope"), 0)],
)
def test_unwrap_or_returns_the_value_or_the_default(
    result: FlextResult[int], expected: int
) -> None:
    """``unwrap_or`` gives the value of a success and the default of a failure."""
    assert result.unwrap_or(0) == expected


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (FlextResult.ok({"a": 1}), "FlextResult.ok({'a': 1})"),
        (FlextResult.fail("x"), "FlextResult.fail('x')"),
    ],
)
def test_repr_names_the_outcome(result: FlextResult[Any], expected: str) -> None:
    """The repr shows whether the result is ok or failed, and with what."""
    assert repr(result) == expected
