"""The lnav format in docs/lnav/ reads our records: lnav itself filters one request out of a log.

A log file is written with flext-logging (two requests, one with a child correlation and an
error), the format is installed into a temporary home with ``lnav -i``, and lnav is run
headless (``-n``) with a filter or an SQL query, as a user would from a shell.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys

FORMAT_FILE = Path(__file__).resolve().parent.parent / "docs" / "lnav" / "flext_logging.json"
FORMAT_NAME = "flext_logging_json"
LNAV = shutil.which("lnav")

pytestmark = pytest.mark.skipif(
    LNAV is None, reason="lnav is not installed (apt-get install lnav; .ci/run installs it)"
)

logger = get_logger("shop.checkout")


def _write_log(path: Path) -> tuple[str, str]:
    """Log two requests into *path*; return the correlation ids of the first and the second."""
    with path.open("w", encoding="utf-8") as stream:
        configure(format="json", stream=stream, service_name="shop", service_version="1.2.0")
        logger.info("service started")
        with (
            FlextContext.Correlation.new_correlation() as first,
            FlextContext.Request.request_context(request_id="req-1", user_id="u-1"),
        ):
            logger.info("order received", items=2)
            with FlextContext.Correlation.new_correlation():
                logger.info("reserving stock")
            with FlextContext.Performance.timed_operation("charge_card"):
                logging.getLogger("payments.client").warning("retry %d of %d", 1, 3)
            try:
                raise FlextExceptions("sku not found", resource_id="sku-42", resource_type="sku")
            except FlextExceptions.NotFoundError:
                logger.exception("sku lookup failed")
        with (
            FlextContext.Correlation.new_correlation() as second,
            FlextContext.Request.request_context(request_id="req-2", user_id="u-2"),
        ):
            logger.info("order received", items=1)
            logger.info("order placed")
    return first, second


def _lnav(home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    assert LNAV is not None
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("LNAV", "XDG_"))
    }
    environment.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TZ="UTC")
    return subprocess.run(
        [LNAV, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def lnav_home(tmp_path: Path) -> Path:
    """A home directory with only our format installed."""
    home = tmp_path / "home"
    home.mkdir()
    installed = _lnav(home, "-i", str(FORMAT_FILE))
    assert installed.returncode == 0, installed.stderr
    return home


@pytest.fixture
def app_log(tmp_path: Path) -> tuple[Path, str, str, list[str]]:
    """The log file, the two correlation ids, and the file's lines."""
    path = tmp_path / "app.log"
    first, second = _write_log(path)
    return path, first, second, path.read_text(encoding="utf-8").splitlines()


def test_format_installs_without_warnings(lnav_home: Path) -> None:
    """lnav accepts every property of the format file: ``-W`` reports nothing about it."""
    checked = _lnav(lnav_home, "-W", "-n", "-N")
    assert checked.returncode == 0
    assert checked.stderr == ""
    installed = list((lnav_home).rglob(f"{FORMAT_NAME}.json"))
    assert len(installed) == 1


def test_format_describes_every_context_key() -> None:
    """Every context key of the schema has a value definition, and every definition is a key."""
    definition = json.loads(FORMAT_FILE.read_text(encoding="utf-8"))[FORMAT_NAME]
    schema_names = {
        value for name, value in vars(keys).items() if name.isupper() and isinstance(value, str)
    }
    assert set(keys.CONTEXT_KEYS) <= set(definition["value"])
    assert set(definition["value"]) <= schema_names
    assert definition["opid-field"] == keys.CORRELATION_ID
    assert [definition[f] for f in ("timestamp-field", "level-field", "body-field")] == [
        keys.TIMESTAMP,
        keys.LEVEL,
        keys.MESSAGE,
    ]


def test_filter_in_shows_only_the_lines_of_one_correlation(
    lnav_home: Path, app_log: tuple[Path, str, str, list[str]]
) -> None:
    """``:filter-in <correlation id>`` leaves exactly that correlation's records, in order."""
    path, first, _, lines = app_log
    shown = _lnav(lnav_home, "-n", "-c", f":filter-in {first}", str(path))
    assert shown.returncode == 0, shown.stderr
    # Headless lnav prints the view: one line per record, its other fields indented below it.
    heads = [line for line in shown.stdout.splitlines() if line and not line.startswith(" ")]
    expected = [json.loads(line) for line in lines if first in line]
    assert [r["message"] for r in expected] == [
        "order received",
        "reserving stock",
        "retry 1 of 3",
        "operation_finished",
        "sku lookup failed",
    ]
    assert len(heads) == len(expected)
    for head, record in zip(heads, expected, strict=True):
        assert head.startswith(record[keys.TIMESTAMP][:23])
        assert record[keys.LEVEL].upper() in head
        assert record[keys.MESSAGE] in head
    # The child correlation's line matched through its parent_correlation_id field.
    assert f"[{first}]" not in heads[1]
    assert "req-2" not in shown.stdout


def test_sql_query_returns_the_raw_lines_of_one_correlation(
    lnav_home: Path, app_log: tuple[Path, str, str, list[str]]
) -> None:
    """The format's table answers a query by correlation id with the file's own lines."""
    path, _, second, lines = app_log
    query = (
        f";SELECT log_raw_text FROM {FORMAT_NAME} WHERE correlation_id = '{second}'"
        " ORDER BY log_line"
    )
    shown = _lnav(lnav_home, "-n", "-c", query, "-c", ":write-raw-to --view=db -", str(path))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [line for line in lines if second in line]
    assert len(shown.stdout.splitlines()) == 2


def test_columns_carry_level_opid_and_fields(
    lnav_home: Path, app_log: tuple[Path, str, str, list[str]]
) -> None:
    """lnav maps our level names, takes the correlation id as the opid and exposes the fields."""
    path, first, second, _ = app_log
    query = (
        f";SELECT log_level, log_opid, request_id, user_id, service_name, operation,"
        f" duration_ms IS NOT NULL AS timed FROM {FORMAT_NAME} ORDER BY log_line"
    )
    shown = _lnav(lnav_home, "-n", "-c", query, "-c", ":write-csv-to -", str(path))
    assert shown.returncode == 0, shown.stderr
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert [(row["log_level"], row["log_opid"]) for row in rows] == [
        ("info", "<NULL>"),
        ("info", first),
        ("info", rows[2]["log_opid"]),
        ("warning", first),
        ("info", first),
        ("error", first),
        ("info", second),
        ("info", second),
    ]
    assert rows[2]["log_opid"] not in (first, second, "<NULL>")
    assert {row["service_name"] for row in rows} == {"shop"}
    assert [row["request_id"] for row in rows[1:]] == ["req-1"] * 5 + ["req-2"] * 2
    timed = [row["operation"] for row in rows if row["timed"] == "1"]
    assert timed == ["charge_card"]
