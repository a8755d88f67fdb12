"""Every schema preset reads back: the same requests logged under each give the same answers.

``preset_workload.py`` runs two real services and a failing job once, writing every
record to five files at once (flat and the four presets). ``trace`` (by correlation,
request and trace id), ``requests``, ``stats`` and ``pretty`` must say exactly the same
about each file as about the flat one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from scripts import run_python

from flext_logging import keys, presets
from flext_logging.cli.main import main

WORKLOAD = Path(__file__).with_name("preset_workload.py")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The directory of the five files, and the ids the workload printed."""
    directory = tmp_path_factory.mktemp("presets")
    completed = run_python(str(WORKLOAD), str(directory))
    assert completed.returncode == 0, completed.stderr
    return directory, json.loads(completed.stdout)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _ids(directory: Path, printed: dict[str, str]) -> dict[str, str]:
    """The ids to trace: the workload's, and the order's request id at the shop."""
    first = orjson.loads((directory / "flat.log").read_bytes().splitlines()[0])
    return {**printed, "order_request": first[keys.REQUEST_ID], "job_request": "req-42"}


def test_each_preset_file_is_written_in_its_preset(logged: tuple[Path, dict[str, str]]) -> None:
    """The files differ: each line of a preset file is recognised as that preset."""
    directory, _ = logged
    for schema in presets.SCHEMAS:
        lines = (directory / f"{schema}.log").read_bytes().splitlines()
        assert len(lines) == 16
        assert {presets.detect(orjson.loads(line)) for line in lines} == {schema}


@pytest.mark.parametrize("schema", presets.PRESETS)
@pytest.mark.parametrize(
    "which", ["order_correlation", "order_request", "order_trace", "job_root", "job_request"]
)
def test_trace_builds_the_same_tree_from_every_preset(
    logged: tuple[Path, dict[str, str]],
    schema: str,
    which: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The tree of one id, records included, is the flat file's, whatever the preset."""
    directory, printed = logged
    ident = _ids(directory, printed)[which]
    answers: list[Any] = []
    for name in ("flat", schema):
        status, out, err = _run(
            ["trace", ident, str(directory / f"{name}.log"), "--format", "json"], capsys
        )
        assert (status, err) == (0, "")
        answers.append(orjson.loads(out))
    flat, preset = answers
    assert preset == flat
    assert flat["children"] or which == "order_trace"  # a tree, not one node


@pytest.mark.parametrize("schema", presets.PRESETS)
@pytest.mark.parametrize(
    "command",
    [
        ["stats", "--format", "json"],
        ["stats", "--by", "code", "--format", "json"],
        ["stats", "--by", "service", "--every", "1h", "--format", "csv"],
        ["requests", "--format", "json"],
        ["requests", "--failed", "--format", "csv"],
    ],
)
def test_stats_and_requests_say_the_same_of_every_preset(
    logged: tuple[Path, dict[str, str]],
    schema: str,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """stats and requests print the same for a preset file as for the flat one."""
    directory, _ = logged
    outputs = [
        _run([*command, str(directory / f"{name}.log")], capsys) for name in ("flat", schema)
    ]
    assert outputs[1] == outputs[0]
    assert outputs[0][1].strip() not in ("", "[]")


def _fields_of_lines(text: str) -> list[list[str]]:
    """Each printed line as its sorted words, the lines sorted too: a preset line does
    not keep the order of the call's own fields where the preset moves them to names of
    its own, and two services writing within the same millisecond may reach the flat
    file and the preset file in either order."""
    return sorted(sorted(line.split()) for line in text.splitlines())


@pytest.mark.parametrize("schema", presets.PRESETS)
@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_pretty_shows_the_same_lines_for_every_preset(
    logged: tuple[Path, dict[str, str]],
    schema: str,
    verbose: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """pretty prints each record with the same time, level, service, message, fields
    and ids, whatever the preset of its file."""
    directory, _ = logged
    outputs = [
        _run(["pretty", "--width", "1000", *verbose, str(directory / f"{name}.log")], capsys)
        for name in ("flat", schema)
    ]
    assert outputs[1][0] == outputs[0][0] == 0
    assert _fields_of_lines(outputs[1][1]) == _fields_of_lines(outputs[0][1])
    assert len(outputs[0][1].splitlines()) == 16


def test_the_cli_reads_a_preset_line_through_the_preset_table() -> None:
    """A preset line, even one under names no other library uses, reads back whole."""
    record = {
        keys.TIMESTAMP: "2026-11-23T10:00:01.000000Z",
        keys.LEVEL: "error",
        keys.LOGGER: "shop",
        keys.MESSAGE: keys.EVENT_REQUEST_FINISHED,
        keys.CORRELATION_ID: "c-1",
        keys.SERVICE_NAME: "shop",
        keys.DURATION_MS: 12.5,
        keys.HTTP_METHOD: "GET",
        keys.HTTP_PATH: "/a",
        keys.STATUS_CODE: 503,
    }
    from flext_logging.cli.fields import Schema

    for schema in presets.PRESETS:
        line = orjson.loads(orjson.dumps(presets.preset(schema).encode(record)))
        assert Schema().normalize(line) == record, schema


@pytest.mark.parametrize("schema", presets.PRESETS)
def test_a_line_with_some_of_a_presets_names_is_read_by_the_same_table(schema: str) -> None:
    """Another library's line that uses a preset's names, without its whole head, is read
    name by name from the dialect the preset table makes: renaming a field in the table
    renames it for the reader too."""
    from flext_logging.cli.fields import DIALECTS, Schema

    record = {keys.CORRELATION_ID: "c-1", keys.REQUEST_ID: "r-1", keys.USER_ID: "u-1"}
    line: dict[str, Any] = {"msg": "hello"}
    for name, value in record.items():
        (target,) = presets.reading_targets(schema)[name]
        assert DIALECTS[schema][name][0] == presets.dotted(target)
        line[presets.dotted(target)] = value
    normalized = Schema().normalize(line)
    assert {name: normalized.get(name) for name in record} == record


def test_fields_the_user_names_are_read_from_the_preset_line_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--id-field names a path of the line as the preset wrote it (ECS ``flext.*``)."""
    records = [
        {
            keys.TIMESTAMP: f"2026-11-23T10:00:0{second}.000000Z",
            keys.LEVEL: "info",
            keys.LOGGER: "legacy",
            keys.MESSAGE: message,
            "order_ref": "o-77",
        }
        for second, message in ((1, "order received"), (2, "order shipped"))
    ]
    log = tmp_path / "ecs.log"
    ecs = presets.preset(presets.ECS)
    log.write_bytes(b"".join(orjson.dumps(ecs.encode(record)) + b"\n" for record in records))
    status, out, err = _run(
        ["trace", "o-77", str(log), "--id-field", "flext.order_ref", "--format", "json"], capsys
    )
    assert (status, err) == (0, "")
    assert [r[keys.MESSAGE] for r in orjson.loads(out)["records"]] == [
        "order received",
        "order shipped",
    ]
