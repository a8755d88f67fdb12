"""Measure what redaction costs on one long string field, side by side in one run.

Each case logs the same record (8 context fields and one 10 KB string field) through
flext-logging with redaction on, flext-logging with redaction off, and stdlib logging
with python-json-logger, each writing to its own ``os.devnull`` file. Configurations run
in paired rounds (warm-up, then ``--rounds`` short rounds of ``--iterations`` calls,
round-robin); the ratio reported is the median of the per-round ratios, so machine noise
hits every configuration alike. After timing, each configuration's output is checked:
the long field is written whole and, for flext-logging, nothing was redacted.

    python benchmarks/bench_redaction.py                  # full run
    python benchmarks/bench_redaction.py --rounds 3 --iterations 20   # smoke run

The goal (issue 15): the "prose" case at most 0.5x stdlib+python-json-logger; the run
exits 3 when it is missed, 1 when an output check fails.
"""

from __future__ import annotations

import argparse
import contextvars
import json
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter as PjlJsonFormatter

import flext_logging
from flext_logging import FlextContext, _config, get_logger

SIZE: Final = 10_240
GOAL: Final = 0.5
GOAL_MISSED: Final = 3  # the exit status when the prose case is over the goal
CONTEXT: Final = {
    "correlation_id": "8f14e45fceea167a5a36dedd4bea2543",
    "request_id": "req-7f3a",
    "service_name": "user-service",
    "service_version": "1.4.0",
    "environment": "production",
    "user_id": "u-42",
    "operation_name": "signup",
}
WORDS: Final = [
    "order",
    "shipped",
    "customer",
    "total",
    "items",
    "warehouse",
    "invoice",
    "paid",
    "pending",
    "the",
    "and",
    "of",
    "to",
    "from",
    "with",
    "for",
    "refund",
    "delivered",
    "address",
    "carrier",
    "weight",
    "parcel",
    "return",
    "status",
]


def prose(size: int, rng: random.Random) -> str:
    """Words with a number every few words, as in a description or a message body."""
    parts: list[str] = []
    length = 0
    while length < size:
        parts.extend(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        parts.append(str(rng.randint(0, 10 ** rng.randint(1, 6))))
        length = sum(len(part) + 1 for part in parts)
    return " ".join(parts)[:size]


def dense_numbers(size: int, rng: random.Random) -> str:
    """Numbers separated by single spaces: every run is a card candidate (the worst case).

    Each number starts with 1, 7, 8 or 9, which no card number does, so none is one.
    """
    parts: list[str] = []
    length = 0
    while length < size:
        digits = rng.randint(1, 9)
        parts.append(rng.choice("1789") + str(rng.randint(0, 10**digits)).zfill(digits))
        length += len(parts[-1]) + 1
    return " ".join(parts)[:size]


def query_string(size: int, rng: random.Random) -> str:
    """A long query string: an "=" every few characters, no secret name."""
    parts: list[str] = []
    length = 0
    while length < size:
        parts.append(f"{rng.choice(WORDS)}_{len(parts)}={rng.randint(0, 99999)}")
        length += len(parts[-1]) + 1
    return "/search?" + "&".join(parts)[: size - 8]


def json_text(size: int, rng: random.Random) -> str:
    """JSON inside a string: a quoted name and a colon every few characters."""
    rows: list[dict[str, Any]] = []
    while len(json.dumps(rows)) < size:
        rows.append({"item": rng.choice(WORDS), "qty": rng.randint(1, 9), "note": "ok"})
    return json.dumps(rows)[:size]


TEXTS: Final[dict[str, Callable[[int, random.Random], str]]] = {
    "prose": prose,
    "dense_numbers": dense_numbers,
    "query_string": query_string,
    "json_text": json_text,
}

_NO_CONTEXT: Final[dict[str, str]] = {}
_peer: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("peer")


class _PeerContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _peer.get(_NO_CONTEXT).items():
            setattr(record, key, value)
        return True


def configs(text: str, out_dir: str) -> dict[str, tuple[Callable[[], None], str]]:
    """The three configurations of one case: a call, and the file it writes."""
    paths = {name: os.path.join(out_dir, f"{name}.log") for name in ("on", "off", "pjl")}
    std = logging.getLogger("bench.redaction.pjl")
    std.handlers.clear()
    std.propagate = False
    handler = logging.FileHandler(paths["pjl"])
    handler.setFormatter(
        PjlJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", timestamp=True)
    )
    handler.addFilter(_PeerContext())
    std.addHandler(handler)
    std.setLevel(logging.INFO)
    streams = {name: open(paths[name], "w", encoding="utf-8") for name in ("on", "off")}  # noqa: SIM115
    loggers = {}
    for name, redaction in (("on", True), ("off", False)):
        _config.reset()
        flext_logging.configure(
            format="json", stream=streams[name], redaction=redaction, capture_stdlib=False
        )
        loggers[name] = (flext_logging._pipeline.active(), get_logger("bench.redaction"))
    field = {"payload": text}

    def ours(name: str) -> Callable[[], None]:
        pipeline, logger = loggers[name]

        def call() -> None:
            flext_logging._pipeline.install(pipeline)
            logger.info("order updated", **field)

        return call

    return {
        "flext-logging, redaction on": (ours("on"), paths["on"]),
        "flext-logging, redaction off": (ours("off"), paths["off"]),
        "stdlib+python-json-logger": (lambda: std.info("order updated", extra=field), paths["pjl"]),
    }


def run(text: str, rounds: int, iterations: int, out_dir: str) -> dict[str, list[float]]:
    """Microseconds per call of each configuration, one sample per round."""
    calls = configs(text, out_dir)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    token = _peer.set(dict(CONTEXT))
    with (
        FlextContext.Request.request_context(
            request_id=CONTEXT["request_id"],
            user_id=CONTEXT["user_id"],
            operation_name=CONTEXT["operation_name"],
        ),
        FlextContext.Correlation.inherit_correlation(),
    ):
        for call, _ in calls.values():  # warm-up
            for _ in range(max(iterations // 5, 1)):
                call()
        for _ in range(rounds):
            for name, (call, _) in calls.items():
                start = time.perf_counter()
                for _ in range(iterations):
                    call()
                samples[name].append((time.perf_counter() - start) / iterations * 1e6)
    _peer.reset(token)
    for name, (_, path) in calls.items():
        _check(name, path, text)
    return samples


def _check(name: str, path: str, text: str) -> None:
    logging.getLogger("bench.redaction.pjl").handlers[0].flush()
    flext_logging._pipeline.active().flush()
    with open(path, encoding="utf-8") as lines:
        last = json.loads(lines.readlines()[-1])
    if last.get("payload") != text:
        raise SystemExit(f"{name}: the 10 KB field was not written unchanged")


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the ratios; exit 3 if the prose goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--size", type=int, default=SIZE)
    args = parser.parse_args(argv)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".bench")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(15)  # noqa: S311 - benchmark text, not secrets
    print(f"one {args.size}-byte string field; median of {args.rounds} paired rounds")
    print(f"{'text':<14} {'pjl us':>8} {'on us':>8} {'off us':>8} {'on/pjl':>7} {'off/pjl':>8}")
    missed = False
    for case, make in TEXTS.items():
        samples = run(make(args.size, rng), args.rounds, args.iterations, out_dir)
        pjl = samples["stdlib+python-json-logger"]
        on = samples["flext-logging, redaction on"]
        off = samples["flext-logging, redaction off"]
        ratio_on = statistics.median(a / b for a, b in zip(on, pjl, strict=True))
        ratio_off = statistics.median(a / b for a, b in zip(off, pjl, strict=True))
        print(
            f"{case:<14} {statistics.median(pjl):8.1f} {statistics.median(on):8.1f} "
            f"{statistics.median(off):8.1f} {ratio_on:7.2f} {ratio_off:8.2f}"
            + (f"   goal <= {GOAL}" if case == "prose" else ""),
            flush=True,
        )
        missed = missed or (case == "prose" and ratio_on > GOAL)
    _config.reset()
    return GOAL_MISSED if missed else 0


if __name__ == "__main__":
    sys.exit(main())
