"""to_json_safe, truncate and safe_repr: any value becomes bounded JSON-safe data, never raising."""

from __future__ import annotations

import datetime
import enum
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odd_values import ReprRaises, StrRaises

from flext_logging._jsonsafe import (
    MAX_DEPTH,
    MAX_ITEMS,
    TRUNCATION_MARK,
    safe_repr,
    to_json_safe,
    truncate,
)


class _Colour(enum.Enum):
    RED = "red"


class _BrokenMapping(Mapping[str, int]):
    """A mapping whose iteration fails part-way, as a lazy proxy might."""

    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("cannot iterate")

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return "<BrokenMapping>"


def _strict_dumps(value: Any) -> str:
    """Encode as strict JSON: no NaN/Infinity, no non-JSON types."""
    return json.dumps(value, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"a": [1, 2.5, None, True]}, {"a": [1, 2.5, None, True]}, id="plain-json"),
        pytest.param((1, (2, 3)), [1, [2, 3]], id="tuples-become-lists"),
        pytest.param({3, 1, 2}, [1, 2, 3], id="set-sorted"),
        pytest.param(frozenset({"b", "a"}), ["a", "b"], id="frozenset-sorted"),
        pytest.param({1, "a"}, ["a", 1], id="mixed-set-sorted-by-repr"),
        pytest.param(
            {1: "int", (1, 2): "tuple", None: "none"},
            {"1": "int", "(1, 2)": "tuple", "None": "none"},
            id="non-str-keys",
        ),
        pytest.param(
            {ReprRaises(): 1},
            {"<unrepresentable ReprRaises: RuntimeError>": 1},
            id="key-repr-raises",
        ),
        pytest.param(b"ok\xff", "ok\\xff", id="bytes"),
        pytest.param(bytearray(b"ba"), "ba", id="bytearray"),
        pytest.param(memoryview(b"mv"), "mv", id="memoryview"),
        pytest.param(2**64 - 1, 2**64 - 1, id="largest-unsigned-64-bit-int"),
        pytest.param(2**64, str(2**64), id="int-over-64-bits"),
        pytest.param(-(2**63), -(2**63), id="smallest-signed-64-bit-int"),
        pytest.param(-(2**63) - 1, str(-(2**63) - 1), id="negative-int-over-64-bits"),
        pytest.param(float("nan"), "NaN", id="nan"),
        pytest.param(float("inf"), "inf", id="infinity"),
        pytest.param(float("-inf"), "-inf", id="negative-infinity"),
        pytest.param(
            datetime.datetime(
                2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
            ),
            "2024-01-02T01:04:05.000000Z",
            id="aware-datetime-in-utc",
        ),
        pytest.param(
            datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05", id="naive-datetime"
        ),
        pytest.param(datetime.date(2024, 1, 2), "2024-01-02", id="date"),
        pytest.param(datetime.time(3, 4), "03:04:00", id="time"),
        pytest.param(_Colour.RED, "red", id="enum"),
        pytest.param(uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001", id="uuid"),
        pytest.param(ValueError("bad"), "ValueError: bad", id="exception"),
        pytest.param(StrRaises(), "StrRaises()", id="exception-str-raises"),
        pytest.param(ReprRaises(), "<unrepresentable ReprRaises: RuntimeError>", id="repr-raises"),
        pytest.param(_BrokenMapping(), "<BrokenMapping>", id="mapping-that-cannot-iterate"),
        pytest.param("\ud800", "\ud800", id="lone-surrogate-kept-for-the-encoder"),
    ],
)
def test_to_json_safe_converts_odd_values(value: object, expected: object) -> None:
    """Each kind of value becomes the JSON-safe data a log reader would expect."""
    converted = to_json_safe(value)
    assert converted == expected
    _strict_dumps(converted)


def test_to_json_safe_marks_cycles_in_dicts_and_lists() -> None:
    """A container that contains itself is cut at the repeat with a cycle marker."""
    looping: dict[str, Any] = {"name": "loop", "items": []}
    looping["items"].append(looping)
    looping["self"] = looping
    assert to_json_safe(looping) == {
        "name": "loop",
        "items": ["<cycle dict>"],
        "self": "<cycle dict>",
    }


def test_to_json_safe_repeats_shared_values_that_are_not_cycles() -> None:
    """The same list referenced twice (no cycle) is converted in full both times."""
    shared = [1, 2]
    assert to_json_safe({"a": shared, "b": shared, "c": [shared, shared]}) == {
        "a": [1, 2],
        "b": [1, 2],
        "c": [[1, 2], [1, 2]],
    }


def test_to_json_safe_bounds_nesting_depth() -> None:
    """Nesting deeper than MAX_DEPTH is cut off and shown as a repr string."""
    value: list[Any] = []
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    converted = to_json_safe(value)
    for _ in range(MAX_DEPTH):
        assert isinstance(converted, list)
        (converted,) = converted
    assert converted == "[" * 5 + "[]" + "]" * 5


@pytest.mark.parametrize(
    "value",
    [list(range(MAX_ITEMS + 500)), {str(i): i for i in range(MAX_ITEMS + 500)}],
    ids=["list", "dict"],
)
def test_to_json_safe_bounds_container_size(value: list[int] | dict[str, int]) -> None:
    """Containers keep at most MAX_ITEMS items."""
    assert len(to_json_safe(value)) == MAX_ITEMS


def test_to_json_safe_truncates_long_strings_everywhere() -> None:
    """Strings longer than max_string are cut, at the top level and inside containers."""
    converted = to_json_safe({"s": "x" * 100, "b": b"y" * 100}, max_string=40)
    assert converted == {
        "s": "x" * (40 - len(TRUNCATION_MARK)) + TRUNCATION_MARK,
        "b": "y" * (40 - len(TRUNCATION_MARK)) + TRUNCATION_MARK,
    }


def test_to_json_safe_does_not_modify_its_input() -> None:
    """Conversion builds new containers; the input is left as it was."""
    value = {"tags": {"b", "a"}, "pair": (1, 2), "nested": {"n": float("nan")}}
    to_json_safe(value)
    assert value["tags"] == {"b", "a"}
    assert value["pair"] == (1, 2)


_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.binary()
    | st.datetimes()
    | st.uuids()
)
_values = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.frozensets(st.integers() | st.text(), max_size=5)
        | st.dictionaries(st.text() | st.integers() | st.none(), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(_values)
def test_to_json_safe_output_always_encodes_as_strict_json(value: object) -> None:
    """Whatever nested value goes in, the result encodes as strict JSON."""
    _strict_dumps(to_json_safe(value))


# -- truncate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("a" * 30, 20, "a" * (20 - len(TRUNCATION_MARK)) + TRUNCATION_MARK),
        ("a" * 30, len(TRUNCATION_MARK) + 1, "a" + TRUNCATION_MARK),
    ],
)
def test_truncate_cuts_to_the_limit_and_marks_the_cut(text: str, limit: int, expected: str) -> None:
    """Text within the limit is unchanged; longer text is cut to exactly the limit, marked."""
    result = truncate(text, limit)
    assert result == expected
    assert len(result) <= limit


@pytest.mark.parametrize("limit", [0, 3, len(TRUNCATION_MARK)])
def test_truncate_never_exceeds_a_limit_smaller_than_the_mark(limit: int) -> None:
    """Even a limit too small for the mark is respected."""
    assert len(truncate("x" * 100, limit)) <= limit


# -- safe_repr -------------------------------------------------------------------------------


def test_safe_repr_returns_the_repr() -> None:
    """An ordinary value gives its repr."""
    assert safe_repr({"a": 1}) == "{'a': 1}"


def test_safe_repr_of_a_raising_repr_names_the_type_and_error() -> None:
    """A __repr__ that raises gives a placeholder naming the class and the error."""
    assert safe_repr(ReprRaises()) == "<unrepresentable ReprRaises: RuntimeError>"


def test_safe_repr_bounds_long_reprs() -> None:
    """A long repr is truncated to the limit."""
    text = safe_repr("z" * 1000, 50)
    assert len(text) == 50
    assert text.endswith(TRUNCATION_MARK)
