"""syslog-ng and rsyslog ship our lines: docs/shippers/ configs, run for real, end to end.

Each shipper runs the configuration from docs/shippers/ (paths and port made temporary)
as a foreground process on 127.0.0.1. The application logs through flext-logging into
the file the shipper tails and over TCP; every record must come out once, with its
microseconds, its non-ASCII text and its 64 KiB message whole, and the per-correlation
files must hold exactly each correlation's records.
"""

from __future__ import annotations

import datetime
import io
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from stores import (
    complete_lines,
    free_port,
    rsyslog_binary,
    running,
    syslog_ng_binary,
    wait_until,
)

from flext_logging import FlextContext, configure, get_logger, keys
from flext_logging.renderers import DEFAULT_MAX_RECORD_BYTES

SHIPPERS = Path(__file__).resolve().parents[2] / "docs" / "shippers"
FILE_RECORDS = 120
TCP_RECORDS = 60
TEXT = "héllo — ☃ 日本語 🎉 שלום"
DELIVERY_TIMEOUT = 30.0
logger = get_logger("tests.shippers")


@dataclass
class Shipper:
    """A running shipper: the file it tails, the port it listens on, where it writes."""

    name: str
    log_file: Path
    port: int
    out_dir: Path
    keeps_record_time: bool
    """Whether the ``time`` field is the record's own (rsyslog) or the parsed ISODATE."""


@dataclass
class Delivered:
    """What the application logged to a shipper, and what the shipper wrote."""

    shipper: Shipper
    logged: list[dict[str, Any]]
    """The records flext-logging wrote to the file, parsed."""
    big_line: str
    shipped: list[dict[str, Any]] = field(default_factory=list)


def _config(name: str, replacements: dict[str, str]) -> str:
    text = (SHIPPERS / name).read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{name} no longer has {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def syslog_ng(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipper]:
    """syslog-ng running docs/shippers/syslog-ng.conf with temporary paths and port."""
    binary = syslog_ng_binary()
    root = tmp_path_factory.mktemp("syslog-ng")
    port = free_port()
    config = root / "syslog-ng.conf"
    config.write_text(
        _config(
            "syslog-ng.conf",
            {
                '"/var/log/app/app.log"': f'"{root / "app.log"}"',
                '"5170"': f'"{port}"',
                '"/var/log/flext"': f'"{root / "out"}"',
                "follow-freq(1)": "follow-freq(0.1)",
            },
        ),
        encoding="utf-8",
    )
    command = [binary, "-F", "-e", "--no-caps", "-f", str(config)]
    command += ["-R", str(root / "persist"), "-p", str(root / "pid"), "-c", str(root / "ctl")]
    with running(command, port, root / "syslog-ng.log", "syslog-ng"):
        yield Shipper("syslog-ng", root / "app.log", port, root / "out", keeps_record_time=False)


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shipper]:
    """rsyslogd running docs/shippers/rsyslog.conf with temporary paths and port."""
    binary, module_args = rsyslog_binary()
    root = tmp_path_factory.mktemp("rsyslog")
    (root / "work").mkdir()
    port = free_port()
    config = root / "rsyslog.conf"
    config.write_text(
        _config(
            "rsyslog.conf",
            {
                "/var/spool/rsyslog": str(root / "work"),
                "/var/log/flext": str(root / "out"),
                "/var/log/app/app.log": str(root / "app.log"),
                'port="5170"': f'port="{port}"',
            },
        ),
        encoding="utf-8",
    )
    command = [binary, "-n", "-f", str(config), "-i", str(root / "pid"), *module_args]
    with running(command, port, root / "rsyslog.log", "rsyslogd"):
        yield Shipper("rsyslog", root / "app.log", port, root / "out", keeps_record_time=True)


def _big_message(correlation: str) -> str:
    """A message that makes its record exactly the largest line we write (64 KiB)."""
    probe = io.BytesIO()
    configure(stream=probe, service_name="shop", capture_stdlib=False)
    with FlextContext.Serialization.context_from({keys.CORRELATION_ID: correlation}):
        logger.info("", index=-1)
    return "x" * (DEFAULT_MAX_RECORD_BYTES - len(probe.getvalue()))


def _deliver(shipper: Shipper) -> Delivered:
    """Log into the shipper's file, then over TCP, and wait until it wrote every line."""
    correlations = [FlextContext.Correlation.generate_correlation_id() for _ in range(2)]
    big = _big_message(correlations[0])
    with shipper.log_file.open("ab") as stream:
        configure(stream=stream, service_name="shop", capture_stdlib=False)
        for index in range(FILE_RECORDS):
            with FlextContext.Serialization.context_from(
                {keys.CORRELATION_ID: correlations[index % 2]}
            ):
                logger.info(f"{TEXT} {index}", index=index)
        with FlextContext.Serialization.context_from({keys.CORRELATION_ID: correlations[0]}):
            logger.info(big, index=-1)
        # A line that is no record of ours, with an id that must not reach a file name.
        stream.write(b'{"timestamp":"2024-05-06T07:08:09.000001Z","level":"info",')
        stream.write(b'"message":"foreign","correlation_id":"../../etc/x"}\n')
    with socket.create_connection(("127.0.0.1", shipper.port)) as connection:
        stream = connection.makefile("wb")
        configure(stream=stream, service_name="shop", capture_stdlib=False)
        for index in range(TCP_RECORDS):
            with FlextContext.Serialization.context_from({keys.CORRELATION_ID: correlations[1]}):
                logger.warning(f"tcp {TEXT} {index}", index=index)
        stream.close()
    configure(stream=io.StringIO(), capture_stdlib=False)
    lines = complete_lines(shipper.log_file)
    logged = [json.loads(line) for line in lines if '"foreign"' not in line]
    big_line = next(line for line in lines if '"index":-1' in line)
    out = shipper.out_dir / "all.jsonl"
    total = len(lines) + TCP_RECORDS
    wait_until(
        lambda: len(complete_lines(out)) >= total, DELIVERY_TIMEOUT, f"{total} lines in {out}"
    )
    shipped = [json.loads(line) for line in complete_lines(out)]
    return Delivered(shipper, logged, big_line, shipped)


@pytest.fixture(scope="module")
def via_syslog_ng(syslog_ng: Shipper) -> Delivered:
    """The workload, shipped by syslog-ng."""
    return _deliver(syslog_ng)


@pytest.fixture(scope="module")
def via_rsyslog(rsyslog: Shipper) -> Delivered:
    """The workload, shipped by rsyslog."""
    return _deliver(rsyslog)


SHIPPED = pytest.mark.parametrize("delivered_by", ["via_syslog_ng", "via_rsyslog"])


@SHIPPED
def test_every_record_arrives_once_from_the_file_and_from_tcp(
    delivered_by: str, request: pytest.FixtureRequest
) -> None:
    """The shipper writes one line per record sent, whichever way it came."""
    delivered: Delivered = request.getfixturevalue(delivered_by)
    messages = [line["message"] for line in delivered.shipped]
    assert len(messages) == len(set(messages)) == FILE_RECORDS + 1 + 1 + TCP_RECORDS
    assert len(delivered.logged) == FILE_RECORDS + 1
    assert {record[keys.MESSAGE] for record in delivered.logged} <= set(messages)
    tcp = [line for line in delivered.shipped if line["message"].startswith("tcp ")]
    assert len(tcp) == TCP_RECORDS
    assert {line["level"] for line in tcp} == {"warning"}


@SHIPPED
def test_values_arrive_intact_microseconds_text_and_64_kib(
    delivered_by: str, request: pytest.FixtureRequest
) -> None:
    """Time to the microsecond, non-ASCII text, ids and the largest record come out whole."""
    delivered: Delivered = request.getfixturevalue(delivered_by)
    assert len(delivered.big_line.encode()) + 1 == DEFAULT_MAX_RECORD_BYTES
    by_message = {line["message"]: line for line in delivered.shipped}
    for record in delivered.logged:
        line = by_message[record[keys.MESSAGE]]
        assert line["correlation_id"] == record[keys.CORRELATION_ID]
        assert (line["level"], line["service"], line["logger"]) == ("info", "shop", logger.name)
        assert _moment(line["time"]) == _moment(record[keys.TIMESTAMP])
        if delivered.shipper.keeps_record_time:  # rsyslog: the record's text as written
            assert line["time"] == record[keys.TIMESTAMP]
            assert _fraction(line["received"]) == 6
        else:  # syslog-ng: the record's time, parsed, written with frac-digits(6)
            assert _fraction(line["time"]) == 6
    assert by_message[f"{TEXT} 7"]["correlation_id"]
    assert any(len(message) > 65_000 for message in by_message)


@SHIPPED
def test_records_are_filed_by_correlation_id(
    delivered_by: str, request: pytest.FixtureRequest
) -> None:
    """by-correlation/<id>.jsonl holds exactly each correlation's records; odd ids none."""
    delivered: Delivered = request.getfixturevalue(delivered_by)
    expected: dict[str, int] = {}
    for line in delivered.shipped:
        if line["message"] != "foreign":
            expected[line["correlation_id"]] = expected.get(line["correlation_id"], 0) + 1
    assert sorted(expected.values()) == sorted(
        [FILE_RECORDS // 2 + 1, FILE_RECORDS // 2 + TCP_RECORDS]
    )
    folder = delivered.shipper.out_dir / "by-correlation"

    def filed() -> dict[str, int]:
        return {path.stem: len(complete_lines(path)) for path in folder.glob("*.jsonl")}

    wait_until(lambda: filed() == expected, DELIVERY_TIMEOUT, f"{expected} in {folder}")
    assert sorted(path.name for path in folder.iterdir()) == sorted(f"{c}.jsonl" for c in expected)
    for correlation in expected:
        lines = [json.loads(line) for line in complete_lines(folder / f"{correlation}.jsonl")]
        assert {line["correlation_id"] for line in lines} == {correlation}


def _moment(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _fraction(text: str) -> int:
    """How many digits the fraction of seconds of an RFC 3339 time has."""
    return len(text.split(".")[1].rstrip("Z").split("+")[0].split("-")[0])
