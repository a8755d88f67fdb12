"""Write a large, realistic multi-service JSON-lines log for ``make bench-cli``.

Usage: ``python benchmarks/generate_logs.py --output .bench/app.log [--size-mb 1024]``.

The records come from flext-logging itself: a few dozen requests go, in memory, through a
gateway and a user service (both behind the real ASGI ``ContextMiddleware``, the gateway
calling the user service with a ``propagate``-d httpx client) and then through a worker
that handles the queued job in a child correlation (``Serialization.extracted``). Some
requests fail with FlextExceptions errors (a user not found, a quota exceeded, a job that
fails in the worker). Each request tree's lines become a template in which the ids, user
ids, timestamps and durations are slots; the file is then written by filling randomly
chosen templates with fresh values, which is fast (50-90 MB/s) and keeps the exact schema
and key order of the package. Trees are written one after the other, not interleaved as
concurrent requests would be; the CLI must not rely on either.

One request tree whose job failed in the worker is planted in the middle of the file with
a known root correlation id: gateway and user service lines carry it as
``correlation_id``, the worker's as ``parent_correlation_id``. A second, at three
quarters of the file, fans out: its request queues ``--fanout`` jobs (500 by default),
each in a child correlation of its own, the way a batch endpoint does. The two root ids
are printed on stdout, one a line (the planted one first); a summary goes to stderr. The
same ``--seed`` gives the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys, shutdown
from flext_logging.integrations.asgi import ContextMiddleware, Message, Receive, Scope, Send
from flext_logging.integrations.httpx import propagate

MB = 1024 * 1024
START_EPOCH_S = 1_795_305_600
"""2026-11-22T00:00:00Z: the time of the first line."""
TEMPLATE_REQUESTS = 60
"""Request trees simulated with the package; each gives one template."""
ID_KEYS = (
    keys.CORRELATION_ID,
    keys.PARENT_CORRELATION_ID,
    keys.TRACE_ID,
    keys.SPAN_ID,
    keys.PARENT_SPAN_ID,
    keys.REQUEST_ID,
)
USER_ID_PATTERN = re.compile(r"u-9\d{5}")
TIMESTAMP_PATTERN = re.compile(r'(?<="timestamp":")[^"]+(?=")')
DURATION_PATTERN = re.compile(r'(?<="duration_ms":)[0-9.e+-]+')

gateway_logger = get_logger("gateway.orders")
users_logger = get_logger("users.profiles")
worker_logger = get_logger("worker.invoices")


# -- The system the templates are recorded from: plain ASGI apps, no server. ---------------


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class _System:
    """A gateway and a user service as ASGI apps, and the user service's job queue."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.users = ContextMiddleware(self._users_app, service_name="users")
        self.gateway = ContextMiddleware(self._gateway_app, service_name="gateway")
        transport = httpx.ASGITransport(app=self.users)
        self.client = propagate(httpx.AsyncClient(transport=transport, base_url="http://users"))

    async def _gateway_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        user_id = scope["path"].rsplit("/", 1)[-1]
        with FlextContext.Request.request_context(user_id=user_id):  # as authentication would
            gateway_logger.info("order requested")
            response = await self.client.post(f"/users/{user_id}/invoices")
            if response.status_code >= 400:
                gateway_logger.warning("order rejected", status_code=response.status_code)
        headers = [(b"content-type", response.headers["content-type"].encode())]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": response.content})

    async def _users_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        user_id = scope["path"].split("/")[2]
        number = int(user_id[2:])
        with FlextContext.Request.request_context(user_id=user_id):
            try:
                with FlextContext.Performance.timed_operation("load_user"):
                    FlextContext.Performance.add_operation_metadata("cache_hit", number % 3 == 0)
                    if number % 10 == 3:
                        raise FlextExceptions(
                            "no such user", resource_id=user_id, resource_type="user"
                        )
            except FlextExceptions.NotFoundError as error:
                users_logger.exception("user lookup failed")
                await _send_json(send, 404, {"error": error.error_code})
                return
            if number % 10 == 5:
                raise FlextExceptions("quota exceeded", field="invoices", value=number % 100)
            users_logger.info("invoice queued", plan="pro" if number % 2 else "free")
            self.jobs.append(FlextContext.Serialization.inject({"user_id": user_id}))
        await _send_json(send, 202, {"queued": True})

    def run_jobs(self) -> None:
        """Handle the queued jobs as the worker service, each in a child correlation."""
        with FlextContext.Service.service_context("worker"):
            for job in self.jobs:
                with FlextContext.Serialization.extracted(job):
                    worker_logger.info("job received", job="invoice")
                    try:
                        with FlextContext.Performance.timed_operation("render_invoice"):
                            FlextContext.Performance.add_operation_metadata("pages", 2)
                            if job["user_id"].endswith("7"):
                                raise FlextExceptions(
                                    "template missing", operation="render_invoice"
                                )
                    except FlextExceptions.OperationError:
                        worker_logger.exception("invoice not sent")
                    else:
                        worker_logger.info("invoice sent", channel="email")
        self.jobs.clear()


async def _client_request(app: ContextMiddleware, path: str) -> None:
    """Send one POST to *app* as an ASGI server would, from a mobile client."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": [(b"user-agent", b"shop-app/4.2 (Android 14)")],
        "client": ("10.20.0.7", 51234),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        del message  # the client does not read the answer

    await app(scope, receive, send)


# Each simulated service is a process of its own in a real deployment; a fixed id each
# keeps the output of one seed the same from run to run.
PROCESS_IDS = {"gateway": 4101, "users": 4102, "worker": 4103}


def _service_process_id(logger: Any, method_name: str, event_dict: dict[str, Any]) -> Any:
    """A processor: the process id of the service that wrote the record."""
    event_dict[keys.PROCESS_ID] = PROCESS_IDS.get(event_dict.get(keys.SERVICE_NAME, ""), 4100)
    return event_dict


@contextlib.contextmanager
def _recorded_ids(seed: int) -> Iterator[None]:
    """The ids the package makes while the trees are recorded, drawn from *seed*.

    The templates are made by finding each recorded id in the lines; with random ids a
    rare coincidence between an id and the text around it made a template, and so the
    whole file, differ from run to run. Recorded from seeded ids, the same seed always
    gives the same templates (the file's own ids come from the seed anyway).
    """
    ids = random.Random(seed)  # noqa: S311 - ids of a synthetic log, not secrets
    saved_urandom, saved_state = os.urandom, random.getstate()
    os.urandom = ids.randbytes  # trace and span ids
    random.seed(seed)  # correlation and request ids
    try:
        yield
    finally:
        os.urandom = saved_urandom
        random.setstate(saved_state)


async def _record_trees(count: int) -> list[list[str]]:
    """Run *count* requests through the system; return each request tree's lines."""
    stream = io.StringIO()
    configure(
        format="json",
        stream=stream,
        level="INFO",
        service_version="1.8.2",
        processors=[_service_process_id],
    )
    system = _System()
    trees: list[list[str]] = []
    for number in range(count):
        start = stream.tell()
        await _client_request(system.gateway, f"/orders/u-9{number:05d}")
        system.run_jobs()
        trees.append(stream.getvalue()[start:].splitlines())
    await system.client.aclose()
    shutdown()
    return trees


# -- Templates: the recorded lines with slots for what varies. ------------------------------


class Template:
    """One request tree's lines as ``%``-format strings and the slot each ``%s`` takes."""

    __slots__ = ("correlations", "failed", "ids", "lines", "root", "slots", "user_ids")

    def __init__(self, lines: list[str]) -> None:
        records = [json.loads(line) for line in lines]
        # In order of first appearance, so that a seed always fills the same slots alike.
        self.ids = list(dict.fromkeys(r[key] for r in records for key in ID_KEYS if key in r))
        self.user_ids = sorted({m for line in lines for m in USER_ID_PATTERN.findall(line)})
        self.failed = any(r[keys.LEVEL] == "error" for r in records)
        self.correlations = {r[keys.CORRELATION_ID] for r in records if keys.CORRELATION_ID in r}
        names = {value: f"i{n}" for n, value in enumerate(self.ids)}
        names.update({value: f"u{n}" for n, value in enumerate(self.user_ids)})
        # Longest first: a regex alternation takes the first alternative that matches.
        alternatives = "|".join(re.escape(value) for value in sorted(names, key=len, reverse=True))
        pattern = re.compile(
            f"(?P<t>{TIMESTAMP_PATTERN.pattern})|(?P<d>{DURATION_PATTERN.pattern})"
            + (f"|(?P<id>{alternatives})" if alternatives else "")
        )
        self.lines: list[str] = []
        self.slots: list[tuple[str, ...]] = []
        for line in lines:
            order: list[str] = []

            def slot(match: re.Match[str], order: list[str] = order) -> str:
                kind = match.lastgroup
                order.append(names[match.group(0)] if kind == "id" else str(kind))
                return "%s"

            self.lines.append(pattern.sub(slot, line.replace("%", "%%")))
            self.slots.append(tuple(order))
        self.root = names[records[0][keys.CORRELATION_ID]] if self.ids else None

    def fresh_values(self, rng: random.Random) -> dict[str, str]:
        """Return new random ids (same length, hex) and user ids for the slots."""
        values = {
            f"i{n}": f"{rng.getrandbits(len(value) * 4):0{len(value)}x}"
            for n, value in enumerate(self.ids)
        }
        for n in range(len(self.user_ids)):
            values[f"u{n}"] = f"u-{rng.randrange(100_000, 1_000_000)}"
        return values

    def fill(
        self,
        values: dict[str, str],
        timestamps: Iterator[str],
        durations: Iterator[str],
    ) -> list[str]:
        """Return the lines with *values* in the id slots and fresh times and durations."""
        out = []
        for line, order in zip(self.lines, self.slots, strict=True):
            values["t"] = next(timestamps)
            values["d"] = next(durations)
            out.append(line % tuple(values[name] for name in order))
        return out


class _Clock:
    """RFC 3339 timestamps that move forward by a few milliseconds per line."""

    def __init__(self, start: float, rng: random.Random) -> None:
        self.micros = int(start * 1_000_000)
        self.steps = [rng.randint(50, 4000) for _ in range(4096)]
        self.position = 0
        self.second = -1
        self.prefix = ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        self.position = (self.position + 1) % len(self.steps)
        self.micros += self.steps[self.position]
        second, micros = divmod(self.micros, 1_000_000)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{micros:06d}Z"


def _durations(rng: random.Random) -> Iterator[str]:
    """Durations in ms with a long tail, as operations and requests have them."""
    pool = [str(round(rng.lognormvariate(2.5, 1.0), 3)) for _ in range(8192)]
    while True:
        yield from pool


def _fanout(root: str, children: int, rng: random.Random, timestamps: Iterator[str]) -> list[str]:
    """A batch request that queues *children* jobs, each in a child correlation."""

    def line(message: str, correlation: str, parent: str | None, **fields: Any) -> str:
        record: dict[str, Any] = {
            keys.TIMESTAMP: next(timestamps),
            keys.LEVEL: "info",
            keys.LOGGER: "gateway.batch" if parent is None else "worker.batch",
            keys.MESSAGE: message,
            keys.CORRELATION_ID: correlation,
        }
        if parent is not None:
            record[keys.PARENT_CORRELATION_ID] = parent
        record[keys.SERVICE_NAME] = "gateway" if parent is None else "worker"
        record.update(fields)
        return json.dumps(record, separators=(",", ":"))

    lines = [line("batch received", root, None, jobs=children)]
    for _ in range(children):
        child = f"{rng.getrandbits(128):032x}"
        lines.append(line("job received", child, root))
        lines.append(line("job done", child, root, duration_ms=round(rng.random() * 5, 3)))
    lines.append(line("batch queued", root, None, jobs=children))
    return lines


def generate(
    path: Path, *, size_mb: float, seed: int = 7, fanout: int = 500
) -> tuple[str, str, int, int]:
    """Write about *size_mb* MB of log lines to *path*.

    Return the planted id, the fan-out root's id, the bytes and the lines written.
    """
    rng = random.Random(seed)  # noqa: S311 - ids of a synthetic log, not secrets
    with _recorded_ids(seed):
        trees = asyncio.run(_record_trees(TEMPLATE_REQUESTS))
    templates = [Template(lines) for lines in trees]
    # A request whose job failed in the worker: errors in a child correlation.
    planted = next(t for t in templates if t.failed and len(t.correlations) > 1)
    planted_id = f"{rng.getrandbits(128):032x}"
    fanout_id = f"{rng.getrandbits(128):032x}"
    target = int(size_mb * MB)
    timestamps = _Clock(START_EPOCH_S, rng)
    durations = _durations(rng)
    written = lines = 0
    planted_done = fanout_done = False
    with path.open("w", encoding="utf-8", newline="\n", buffering=4 * MB) as out:
        while written < target:
            chunk: list[str] = []
            for template in rng.choices(templates, k=128):
                chunk.extend(template.fill(template.fresh_values(rng), timestamps, durations))
            if not planted_done and written >= target // 2:
                chunk.extend(_planted(planted, planted_id, rng, timestamps, durations))
                planted_done = True
            if not fanout_done and written >= target * 3 // 4:
                chunk.extend(_fanout(fanout_id, fanout, rng, timestamps))
                fanout_done = True
            text = "\n".join(chunk) + "\n"
            out.write(text)
            written += len(text)
            lines += len(chunk)
        tail: list[str] = []
        if not planted_done:  # a file too small to have a middle
            tail.extend(_planted(planted, planted_id, rng, timestamps, durations))
        if not fanout_done:
            tail.extend(_fanout(fanout_id, fanout, rng, timestamps))
        if tail:
            text = "\n".join(tail) + "\n"
            out.write(text)
            written += len(text)
            lines += len(tail)
    return planted_id, fanout_id, written, lines


def _planted(
    template: Template,
    planted_id: str,
    rng: random.Random,
    timestamps: Iterator[str],
    durations: Iterator[str],
) -> list[str]:
    values = template.fresh_values(rng)
    assert template.root is not None
    values[template.root] = planted_id
    return template.fill(values, timestamps, durations)


def main(argv: list[str] | None = None) -> int:
    """Generate the log file and print the planted correlation id."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path(".bench/app.log"))
    parser.add_argument("--size-mb", type=float, default=1024.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fanout", type=int, default=500, help="jobs of the fan-out request")
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    planted_id, fanout_id, size, lines = generate(
        args.output, size_mb=args.size_mb, seed=args.seed, fanout=args.fanout
    )
    elapsed = time.perf_counter() - started
    print(
        f"wrote {args.output}: {size / MB:.1f} MB, {lines} lines in {elapsed:.1f} s "
        f"({size / MB / elapsed:.0f} MB/s); planted correlation {planted_id}, "
        f"fan-out of {args.fanout} under {fanout_id}",
        file=sys.stderr,
    )
    print(planted_id)
    print(fanout_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
