"""Every shell recipe in docs/recipes.md runs against a real log file and prints what it promises.

A scripted workload writes a JSON-lines file with flext-logging itself; each ```sh block
of the page is run with bash (placeholders substituted) and its output is compared with
values known from the workload, so the page cannot drift from the record schema.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flext_logging.context
from flext_logging import FlextContext, FlextExceptions, configure, get_logger

RECIPES_PAGE = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"
LOG_FILE = "app.log"

logger = get_logger("shop.checkout")


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


class _Clock:
    """A ``perf_counter`` that moves only when the workload says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    def advance(self, milliseconds: float) -> None:
        self.now += milliseconds / 1000.0


@dataclasses.dataclass
class Workload:
    """The log file the workload wrote, its parsed records, and the ids it used."""

    directory: Path
    lines: list[str]
    records: list[dict[str, Any]]
    ids: dict[str, str]
    finished: list[tuple[str, float, str]]
    """(operation, duration_ms, correlation id) of each successful timed operation."""

    def placeholders(self) -> dict[str, str]:
        """Return the value each placeholder documented in recipes.md stands for here."""
        return {
            "CORRELATION_ID": self.ids["inventory_lookup"],
            "REQUEST_ID": "req-1",
            "USER_ID": "u-100",
            "ERROR_CODE": "FLEXT_NOT_FOUND_ERROR",
        }


def _timed(clock: _Clock, workload: list[tuple[str, float, str]], name: str, ms: float) -> None:
    with FlextContext.Performance.timed_operation(name):
        clock.advance(ms)
    correlation_id = FlextContext.Correlation.get_correlation_id()
    assert correlation_id is not None
    workload.append((name, ms, correlation_id))


def _write_log(path: Path, clock: _Clock) -> tuple[dict[str, str], list[tuple[str, float, str]]]:
    """Log two requests into *path*: nested correlations, timings, errors, a library."""
    ids: dict[str, str] = {}
    finished: list[tuple[str, float, str]] = []
    inventory = logging.getLogger("inventory.client")
    context, request = FlextContext.Correlation, FlextContext.Request
    logger.info("service started")
    with (
        context.new_correlation() as ids["order_1"],
        request.request_context(user_id="u-100", request_id="req-1", operation_name="order"),
    ):
        logger.info("order received", items=2)
        _timed(clock, finished, "load_cart", 10)
        with FlextContext.Performance.timed_operation("charge_card"):
            FlextContext.Performance.add_operation_metadata("amount_cents", 4200)
            clock.advance(40)
        finished.append(("charge_card", 40, ids["order_1"]))
        with context.new_correlation() as ids["stock_reservation"]:
            logger.info("reserving stock", sku_count=2)
            _timed(clock, finished, "reserve_stock", 7.5)
            with context.new_correlation() as ids["inventory_lookup"]:
                inventory.warning("retry %d of %d", 1, 3)
                _timed(clock, finished, "lookup_sku", 20)
                try:
                    raise FlextExceptions(
                        "sku not found", resource_id="sku-42", resource_type="sku"
                    )
                except FlextExceptions.NotFoundError:
                    logger.exception("sku lookup failed")
        logger.info("order placed")
    with (
        context.new_correlation() as ids["order_2"],
        request.request_context(user_id="u-200", request_id="req-2", operation_name="order"),
    ):
        _timed(clock, finished, "load_cart", 30)
        try:
            with FlextContext.Performance.timed_operation("charge_card"):
                clock.advance(5)
                raise FlextExceptions("provider unreachable", service="payments", endpoint="/pay")
        except FlextExceptions.ConnectionError:
            logger.exception("payment failed")
        try:
            raise FlextExceptions("coupon not found", resource_id="SPRING", resource_type="coupon")
        except FlextExceptions.NotFoundError:
            logger.exception("coupon lookup failed")
        _timed(clock, finished, "load_cart", 50)
    return ids, finished


@pytest.fixture
def workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workload]:
    """Write the workload's log file with flext-logging and describe what it holds."""
    clock = _Clock()
    monkeypatch.setattr(flext_logging.context, "time", clock)
    path = tmp_path / LOG_FILE
    with path.open("w", encoding="utf-8") as stream:
        configure(
            format="json",
            stream=stream,
            level="DEBUG",
            service_name="shop",
            service_version="1.2.0",
        )
        ids, finished = _write_log(path, clock)
        lines = path.read_text(encoding="utf-8").splitlines()
        yield Workload(tmp_path, lines, [json.loads(line) for line in lines], ids, finished)


def _run(recipe: str, workload: Workload) -> str:
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    values = workload.placeholders()
    script = re.sub(r"\b(" + "|".join(values) + r")\b", lambda m: values[m.group(1)], recipe)
    completed = subprocess.run(
        ["bash", "-eu", "-o", "pipefail", "-c", script],
        cwd=workload.directory,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return completed.stdout


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def _tsv(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines()]


# -- What each recipe must print, from the workload's own values. ----------------------


def _check_correlation_lines(output: str, w: Workload) -> None:
    lookup = w.ids["inventory_lookup"]
    got = _json_lines(output)
    assert got == [r for r in w.records if r.get("correlation_id") == lookup]
    assert [r["message"] for r in got] == [
        "retry 1 of 3",
        "operation_finished",
        "sku lookup failed",
    ]
    assert got[0]["logger"] == "inventory.client"


def _check_request_lines(output: str, w: Workload) -> None:
    expected = [
        line for line, r in zip(w.lines, w.records, strict=True) if r.get("request_id") == "req-1"
    ]
    assert output.splitlines() == expected
    correlations = {json.loads(line)["correlation_id"] for line in expected}
    assert correlations == {w.ids["order_1"], w.ids["stock_reservation"], w.ids["inventory_lookup"]}


def _check_request_correlations(output: str, w: Workload) -> None:
    root, child, grandchild = (
        w.ids["order_1"],
        w.ids["stock_reservation"],
        w.ids["inventory_lookup"],
    )
    assert output.splitlines() == [
        f"{root} parent=none",
        f"{child} parent={root}",
        f"{grandchild} parent={child}",
    ]


def _check_chain_to_root(output: str, w: Workload) -> None:
    chain = [w.ids["order_1"], w.ids["stock_reservation"], w.ids["inventory_lookup"]]
    assert output.splitlines() == [" > ".join(chain)]


def _check_errors_by_code(output: str, w: Workload) -> None:
    counts = [line.split() for line in output.splitlines()]
    assert counts == [["2", "FLEXT_NOT_FOUND_ERROR"], ["1", "FLEXT_CONNECTION_ERROR"]]


def _check_errors_with_code(output: str, w: Workload) -> None:
    got = _json_lines(output)
    assert [{k: v for k, v in r.items() if k != "timestamp"} for r in got] == [
        {
            "correlation_id": w.ids["inventory_lookup"],
            "request_id": "req-1",
            "message": "sku lookup failed",
            "error": "sku not found",
            "context": {"resource_id": "sku-42", "resource_type": "sku"},
        },
        {
            "correlation_id": w.ids["order_2"],
            "request_id": "req-2",
            "message": "coupon lookup failed",
            "error": "coupon not found",
            "context": {"resource_id": "SPRING", "resource_type": "coupon"},
        },
    ]
    error_lines = [r for r in w.records if "error" in r and r["message"].endswith("lookup failed")]
    assert [r["timestamp"] for r in got] == [r["timestamp"] for r in error_lines]


def _check_failed_operations(output: str, w: Workload) -> None:
    assert _json_lines(output) == [
        {
            "operation": "charge_card",
            "duration_ms": 5,
            "error_type": "ConnectionError",
            "error_code": "FLEXT_CONNECTION_ERROR",
            "correlation_id": w.ids["order_2"],
        }
    ]


def _check_slowest(output: str, w: Workload) -> None:
    slowest = sorted(w.finished, key=lambda run: -run[1])[:3]
    assert [(float(ms), name, cid) for ms, name, cid in _tsv(output)] == [
        (ms, name, cid) for name, ms, cid in slowest
    ]
    assert [name for _, name, _ in _tsv(output)] == ["load_cart", "charge_card", "load_cart"]


def _check_duration_stats(output: str, w: Workload) -> None:
    runs: dict[str, list[float]] = {}
    for name, ms, _ in w.finished:
        runs.setdefault(name, []).append(ms)
    expected = []
    for name in sorted(runs):
        durations = sorted(runs[name])
        p95 = durations[math.ceil(len(durations) * 0.95) - 1]
        expected.append((name, sum(durations) / len(durations), p95))
    got = [(name, float(mean), float(p95)) for name, mean, p95 in _tsv(output)]
    assert got == expected
    assert got[1] == ("load_cart", 30.0, 50.0)


def _check_user(output: str, w: Workload) -> None:
    got = _json_lines(output)
    assert got == [r for r in w.records if r.get("user_id") == "u-100"]
    assert len(got) == 9
    assert {r["request_id"] for r in got} == {"req-1"}


CHECKS: dict[str, Callable[[str, Workload], None]] = {
    "All lines of one correlation, in order": _check_correlation_lines,
    "All lines of one request": _check_request_lines,
    "The correlations of one request, parent first": _check_request_correlations,
    "From one correlation up to its root": _check_chain_to_root,
    "Errors counted by error code": _check_errors_by_code,
    "Every error with one code": _check_errors_with_code,
    "Failed operations": _check_failed_operations,
    "Slowest operations": _check_slowest,
    "Average and p95 duration per operation": _check_duration_stats,
    "Everything one user did": _check_user,
}


@pytest.mark.parametrize("heading", list(RECIPES))
def test_recipe_prints_what_the_workload_logged(heading: str, workload: Workload) -> None:
    """Each recipe, run on the workload's log file, prints exactly the expected lines."""
    check = CHECKS.get(heading)
    if check is None:
        pytest.fail(f"recipe {heading!r} in docs/recipes.md has no assertion in CHECKS")
    output = _run(RECIPES[heading], workload)
    assert output.strip(), "the recipe printed nothing"
    check(output, workload)


def test_every_check_has_a_recipe() -> None:
    """No expectation is left behind for a recipe that was renamed or removed."""
    assert sorted(CHECKS) == sorted(RECIPES)


def test_documented_placeholders_are_the_substituted_ones(workload: Workload) -> None:
    """The placeholder table of recipes.md names exactly the words the test substitutes."""
    page = RECIPES_PAGE.read_text(encoding="utf-8")
    table = page.split("## Placeholders", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE)
    assert documented == [LOG_FILE, *workload.placeholders()]


def test_workload_writes_the_schema_the_recipes_read(workload: Workload) -> None:
    """The log file holds what the recipes rely on: nested correlations and timings."""
    by_message = {r["message"]: r for r in workload.records}
    assert by_message["retry 1 of 3"]["parent_correlation_id"] == workload.ids["stock_reservation"]
    assert by_message["service started"].keys() >= {"service_name", "service_version"}
    assert "correlation_id" not in by_message["service started"]
    assert sorted(
        (r["operation"], r["duration_ms"])
        for r in workload.records
        if r["message"] == "operation_finished"
    ) == sorted((name, ms) for name, ms, _ in workload.finished)
