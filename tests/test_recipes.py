"""Every shell recipe in docs/recipes.md runs against the demo's logs and prints what it promises.

The multi-service demo (``examples/demo_system.py``, what ``make demo`` runs) writes
``demo-logs/*.log``; each ```sh block of the page is run there with bash, placeholders
substituted with the ids of the failed checkout, and its output is compared with what
this module computes from the same records. The page cannot drift from the schema or
from what the services really log.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from demo_run import DemoRun

from flext_logging import keys

RECIPES_PAGE = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"
LOG_FILES = "demo-logs/*.log"
Record = dict[str, Any]


def _read_recipes() -> dict[str, str]:
    """Return heading -> shell code for every ``##`` section holding a ```sh block."""
    recipes: dict[str, str] = {}
    sections = re.split(r"^## ", RECIPES_PAGE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    for section in sections[1:]:
        heading, _, body = section.partition("\n")
        blocks = re.findall(r"^```sh\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
        if blocks:
            assert len(blocks) == 1, f"recipe {heading!r} has more than one sh block"
            recipes[heading.strip()] = blocks[0]
    return recipes


RECIPES = _read_recipes()


def placeholders(demo: DemoRun) -> dict[str, str]:
    """Return the value each placeholder of recipes.md stands for: the failed checkout's."""
    job = demo.failed_job()
    return {
        "CORRELATION_ID": job[keys.PARENT_CORRELATION_ID],
        "ERROR_CORRELATION_ID": job[keys.CORRELATION_ID],
        "REQUEST_ID": job[keys.REQUEST_ID],
        "TRACE_ID": job[keys.TRACE_ID],
        "USER_ID": job[keys.USER_ID],
        "ERROR_CODE": job[keys.ERROR][keys.ERROR_CODE],
    }


def _run(recipe: str, demo: DemoRun) -> str:
    for tool in ("jq", "awk"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    values = placeholders(demo)
    script = re.sub(r"\b(" + "|".join(values) + r")\b", lambda m: values[m.group(1)], recipe)
    completed = subprocess.run(
        ["bash", "-eu", "-o", "pipefail", "-c", script],
        cwd=demo.directory,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return completed.stdout


def _in_time_order(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: json.dumps(r, separators=(",", ":")))


def _tsv(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines()]


def _finished_requests(demo: DemoRun) -> list[Record]:
    return [r for r in demo.everything if r[keys.MESSAGE] == keys.EVENT_REQUEST_FINISHED]


# -- What each recipe must print, computed from the demo's records. ----------------------


def _check_request_lines(output: str, demo: DemoRun) -> None:
    request_id = placeholders(demo)["REQUEST_ID"]
    expected = _in_time_order([r for r in demo.everything if r.get(keys.REQUEST_ID) == request_id])
    assert _tsv(output) == [
        [r[keys.TIMESTAMP], r[keys.SERVICE_NAME], r[keys.LEVEL], r[keys.MESSAGE]] for r in expected
    ]
    assert {r[keys.SERVICE_NAME] for r in expected} == {"gateway", "users", "worker"}
    assert _tsv(output)[-1][1:] == ["worker", "error", "job_failed"]


def _check_correlation_lines(output: str, demo: DemoRun) -> None:
    correlation_id = placeholders(demo)["CORRELATION_ID"]
    got = [json.loads(line) for line in output.splitlines()]
    assert got == _in_time_order(
        [r for r in demo.everything if r.get(keys.CORRELATION_ID) == correlation_id]
    )
    assert {r[keys.SERVICE_NAME] for r in got} == {"gateway", "users"}
    assert [r[keys.TIMESTAMP] for r in got] == sorted(r[keys.TIMESTAMP] for r in got)


def _check_trace(output: str, demo: DemoRun) -> None:
    trace_id = placeholders(demo)["TRACE_ID"]
    expected = _in_time_order([r for r in demo.everything if r.get(keys.TRACE_ID) == trace_id])
    assert _tsv(output) == [
        [
            r[keys.TIMESTAMP][11:23],
            r[keys.SERVICE_NAME],
            r[keys.CORRELATION_ID],
            r.get(keys.PARENT_CORRELATION_ID, "-"),
            r[keys.SPAN_ID],
            r[keys.MESSAGE],
            str(r.get(keys.DURATION_MS, "-")),
        ]
        for r in expected
    ]
    correlations = {(r[keys.CORRELATION_ID], r.get(keys.PARENT_CORRELATION_ID)) for r in expected}
    root = placeholders(demo)["CORRELATION_ID"]
    assert len(correlations) == 2
    assert (root, None) in correlations


def _check_chain_to_root(output: str, demo: DemoRun) -> None:
    job = demo.failed_job()
    chain = [job[keys.PARENT_CORRELATION_ID], job[keys.CORRELATION_ID]]
    assert output.splitlines() == [" > ".join(chain)]


def _check_slowest(output: str, demo: DemoRun) -> None:
    finished = _finished_requests(demo)
    rows = _tsv(output)
    top = sorted((r[keys.DURATION_MS] for r in finished), reverse=True)[:5]
    assert [float(row[0]) for row in rows] == top
    columns = (keys.SERVICE_NAME, keys.HTTP_METHOD, keys.HTTP_PATH, keys.REQUEST_ID)
    shown = [[str(r[keys.DURATION_MS]), *(r[name] for name in columns)] for r in finished]
    assert all(row in shown for row in rows)


def _check_route_durations(output: str, demo: DemoRun) -> None:
    groups: dict[tuple[str, str, str], list[float]] = {}
    for r in _finished_requests(demo):
        key = (r[keys.SERVICE_NAME], r[keys.HTTP_METHOD], r[keys.HTTP_ROUTE])
        groups.setdefault(key, []).append(r[keys.DURATION_MS])
    expected = []
    for (service, method, route), durations in sorted(groups.items()):
        ordered = sorted(durations)
        p95 = ordered[math.ceil(len(ordered) * 0.95) - 1]
        expected.append(
            (service, f"{method} {route}", len(ordered), sum(ordered) / len(ordered), p95)
        )
    got = [(s, route, int(n), float(mean), float(p95)) for s, route, n, mean, p95 in _tsv(output)]
    assert [row[:3] for row in got] == [row[:3] for row in expected]
    assert [row[:3] for row in got] == [
        ("gateway", "POST /checkout/{user_id}", 20),
        ("users", "POST /users/<user_id>/orders", 20),
    ]
    for (_, _, _, mean, p95), (_, _, _, want_mean, want_p95) in zip(got, expected, strict=True):
        assert mean == pytest.approx(want_mean, abs=0.0005 + 1e-9)  # rounded by jq
        assert p95 == want_p95


def _check_errors_by_code(output: str, demo: DemoRun) -> None:
    codes = Counter(
        r[keys.ERROR][keys.ERROR_CODE]
        for r in demo.everything
        if isinstance(r.get(keys.ERROR), dict) and keys.ERROR_CODE in r[keys.ERROR]
    )
    assert [line.split() for line in output.splitlines()] == [
        [str(count), code] for code, count in codes.most_common()
    ]
    assert codes == {"FLEXT_OPERATION_ERROR": 1}


def _check_errors_with_code(output: str, demo: DemoRun) -> None:
    job = demo.failed_job()
    assert [json.loads(line) for line in output.splitlines()] == [
        {
            "timestamp": job[keys.TIMESTAMP],
            "service_name": "worker",
            "correlation_id": job[keys.CORRELATION_ID],
            "request_id": job[keys.REQUEST_ID],
            "message": "job_failed",
            "error": "card declined by the issuer",
            "context": job[keys.ERROR][keys.ERROR_CONTEXT],
        }
    ]
    assert job[keys.ERROR][keys.ERROR_CONTEXT]["operation"] == "charge_card"


def _check_status_counts(output: str, demo: DemoRun) -> None:
    counts = Counter(
        f"{r[keys.SERVICE_NAME]} {r[keys.STATUS_CODE]}" for r in _finished_requests(demo)
    )
    assert output.splitlines() == sorted(f"{key} {count}" for key, count in counts.items())
    assert output.splitlines() == ["gateway 202 20", "users 202 20"]


def _check_user(output: str, demo: DemoRun) -> None:
    user_id = placeholders(demo)["USER_ID"]
    got = [json.loads(line) for line in output.splitlines()]
    assert got == _in_time_order([r for r in demo.everything if r.get(keys.USER_ID) == user_id])
    assert {r[keys.SERVICE_NAME] for r in got} == {"gateway", "users", "worker"}


CHECKS: dict[str, Callable[[str, DemoRun], None]] = {
    "All lines of one request, in order": _check_request_lines,
    "All lines of one correlation, in order": _check_correlation_lines,
    "A whole trace across services": _check_trace,
    "From one correlation up to its root": _check_chain_to_root,
    "The slowest requests": _check_slowest,
    "Average and p95 duration per route": _check_route_durations,
    "Errors counted by error code": _check_errors_by_code,
    "Every error with one code": _check_errors_with_code,
    "Requests per service and status code": _check_status_counts,
    "Everything one user did": _check_user,
}


@pytest.mark.parametrize("heading", list(RECIPES))
def test_recipe_prints_what_the_demo_logged(heading: str, demo_run: DemoRun) -> None:
    """Each recipe, run in the demo's directory, prints exactly the expected lines."""
    check = CHECKS.get(heading)
    if check is None:
        pytest.fail(f"recipe {heading!r} in docs/recipes.md has no assertion in CHECKS")
    output = _run(RECIPES[heading], demo_run)
    assert output.strip(), "the recipe printed nothing"
    check(output, demo_run)


def test_every_check_has_a_recipe() -> None:
    """No expectation is left behind for a recipe that was renamed or removed."""
    assert sorted(CHECKS) == sorted(RECIPES)


def test_documented_placeholders_are_the_substituted_ones(demo_run: DemoRun) -> None:
    """The placeholder table of recipes.md names exactly the words the test substitutes."""
    page = RECIPES_PAGE.read_text(encoding="utf-8")
    table = page.split("## Placeholders", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)
    assert documented == [LOG_FILES, *placeholders(demo_run)]
    for recipe in RECIPES.values():
        assert LOG_FILES in recipe
