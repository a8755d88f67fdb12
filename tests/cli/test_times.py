"""Times are parsed, never read as text: one zone on screen, merged and filtered by instant."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from flext_logging import keys
from flext_logging.cli.main import main
from flext_logging.cli.times import clock, parse_instant


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _record(message: str, at: object, **fields: object) -> dict[str, object]:
    return {
        keys.TIMESTAMP: at,
        keys.LEVEL: "info",
        keys.LOGGER: "t",
        keys.MESSAGE: message,
        keys.CORRELATION_ID: "c",
        **fields,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T08:00:00+00:00", "08:00:00.000"),
        ("2026-11-23T10:00:00.5+02:00", "08:00:00.500"),
        ("2026-11-23T03:00:00-05:00", "08:00:00.000"),
        ("2026-11-23 08:00:00,250", "08:00:00.250"),
        ("2026-11-23T08:00:00.123456789Z", "08:00:00.123"),
        (1795420800.25, "08:00:00.250"),
        (1795420800250, "08:00:00.250"),
        ("1795420800250000000", "08:00:00.250"),
    ],
)
def test_every_common_form_of_time_is_read_and_shown_in_utc(value: object, expected: str) -> None:
    """RFC 3339 with any offset, asctime, and epoch seconds, ms and ns give one UTC clock."""
    assert clock(parse_instant(value)) == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-02-31T00:00:00Z", "", True, None, [1]])
def test_what_is_no_time_is_none(value: object) -> None:
    """Text that is not a time, an impossible date, booleans and lists are no time."""
    assert parse_instant(value) is None


def test_pretty_shows_offsets_in_utc_and_merges_files_by_instant(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Files with different offsets, one of them unsorted, come out in true time order."""
    first = write_log(
        "a.log",
        _record("third", "2026-11-23T10:00:03+02:00"),  # 08:00:03 UTC
        _record("first", "2026-11-23T08:00:01Z"),  # out of order in its file
    )
    second = write_log(
        "b.log",
        _record("second", 1795420802.0),  # epoch seconds: 08:00:02 UTC
        _record("fourth", 1795420804000),  # epoch milliseconds
    )
    status, out, _ = _run(["pretty", str(first), str(second)], capsys)
    assert status == 0
    assert [line.split()[:3:2] for line in out.splitlines()] == [
        ["08:00:01.000", "first"],
        ["08:00:02.000", "second"],
        ["08:00:03.000", "third"],
        ["08:00:04.000", "fourth"],
    ]


def test_local_shows_the_local_zone(tmp_path: Path) -> None:
    """--local draws the same instants in the machine's zone (here TZ=Asia/Tokyo, +09:00)."""
    log = tmp_path / "app.log"
    log.write_bytes(orjson.dumps(_record("hello", "2026-11-23T08:00:00Z")) + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "flext_logging", "pretty", str(log), "--local"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "TZ": "Asia/Tokyo"},
    )
    assert result.stdout.split()[0] == "17:00:00.000"


def test_epoch_times_sort_and_pass_the_time_filters(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Epoch seconds and milliseconds are placed by instant and kept by --since/--until."""
    log = write_log(
        "app.log",
        _record("ms", 1795420802000),
        _record("text", "2026-11-23T08:00:01Z"),
        _record("seconds", 1795420803.5),
        _record("too late", 1795420900),
        _record("no time", "whenever"),
    )
    window = ["--since", "2026-11-23T08:00:00Z", "--until", "2026-11-23T08:01:00Z"]
    status, out, err = _run(["trace", "c", str(log), "--format", "json", *window], capsys)
    assert status == 0
    assert [r[keys.MESSAGE] for r in orjson.loads(out)["records"]] == ["text", "ms", "seconds"]
    assert "1 record without a readable time left out by the time filter" in err


def test_our_fixed_width_times_read_exactly_as_any_rfc_3339_time() -> None:
    """Our own form (read by slices) gives the very float the general reader gives,
    across years, months and the day's edges; an impossible date or time is none."""
    import calendar
    import random

    rng = random.Random(2026)
    for _ in range(5_000):
        year, month = rng.randint(1970, 2200), rng.randint(1, 12)
        day = rng.randint(1, calendar.monthrange(year, month)[1])
        hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
        micros = rng.choice([0, 999_999, rng.randint(0, 999_999)])
        ours = (
            f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{micros:06d}Z"
        )
        same_instant = ours[:-1] + "+00:00"  # the general reader's path
        assert parse_instant(ours) == parse_instant(same_instant), ours
    for impossible in (
        "2026-02-31T10:00:00.000000Z",
        "2026-11-23T24:00:00.000000Z",
        "2026-11-23T10:60:00.000000Z",
        "2026-11-23T10:00:00.12345²Z",
        "2026-13-01T10:00:00.000000Z",
    ):
        assert parse_instant(impossible) is None, impossible
