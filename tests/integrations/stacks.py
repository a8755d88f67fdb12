"""Real servers in child processes for the production-stack tests, and the checks on their logs.

A server is started on a free port of 127.0.0.1 with its stdout and stderr going to
files (or stdout through a pipe into ``cat``, as a container runtime reads it), waited
for with a bound, loaded with a bounded number of requests, and stopped by its pid.
The checks read the files back: every line JSON in the schema, no ANSI escape anywhere,
each request's records present exactly once with that request's ids.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from scripts import clean_environment

from flext_logging import keys

APPS = Path(__file__).resolve().parent / "stack_apps"
BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 30.0
CLIENTS = 4
ESC = "\x1b"
Record = dict[str, Any]


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A server process started by :func:`serve`."""

    url: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    reader: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Every line the server wrote, stdout then stderr (read after it stopped)."""
        return [
            line
            for path in (self.stdout, self.stderr)
            for line in path.read_text("utf-8", "replace").splitlines()
        ]

    def signal(self, number: int) -> None:
        """Send *number* to the server's main process."""
        os.kill(self.process.pid, number)


@contextmanager
def serve(
    argv: Sequence[str],
    directory: Path,
    *,
    port: int,
    env: dict[str, str] | None = None,
    pipe: bool = False,
    ready: Callable[[str], bool] | None = None,
) -> Iterator[Server]:
    """Run *argv* (a server binding *port*) from :data:`APPS`; yield it once it answers.

    With *pipe*, stdout goes through a pipe into a reader that writes the file (a
    slow one, ``stack_apps/slow_reader.py``, so the pipe is often full): every worker
    process shares that one pipe, as in a container.
    """
    stdout_path, stderr_path = directory / "stdout.log", directory / "stderr.log"
    environment = {**clean_environment(), "PYTHONPATH": str(APPS), **(env or {})}
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            list(argv),
            cwd=APPS,
            env=environment,
            stdout=subprocess.PIPE if pipe else out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        reader = None
        if pipe:
            reader = subprocess.Popen(
                [sys.executable, str(APPS / "slow_reader.py"), str(stdout_path)],
                stdin=process.stdout,
            )
            process.stdout.close()  # type: ignore[union-attr]  # a pipe was asked for
    server = Server(f"http://127.0.0.1:{port}", process, stdout_path, stderr_path, reader)
    try:
        _wait_until_ready(server, ready)
        yield server
    finally:
        stop(server)


def _wait_until_ready(server: Server, ready: Callable[[str], bool] | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited at start-up:\n{_tail(server)}")
        if ready is not None:
            if ready(server.url):
                return
        else:
            try:
                httpx.get(f"{server.url}/items/0", timeout=2.0)
            except httpx.HTTPError:
                pass
            else:
                return
        time.sleep(0.1)
    pytest.fail(f"the server did not answer in {START_TIMEOUT} s:\n{_tail(server)}")


def stop(server: Server) -> None:
    """Stop the server (SIGTERM, then SIGKILL after a bound) and the pipe's reader."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
    if server.reader is not None:
        server.reader.wait(STOP_TIMEOUT)  # ends at end of file, when every writer is gone


def _tail(server: Server) -> str:
    text = "\n".join(server.lines()[-30:])
    return text[-4000:]


def load(
    base_url: str, numbers: Sequence[int], *, path: str = "/items/{n}", params: Any = None
) -> None:
    """Send ``GET path`` for each number, ``X-Request-Id: req-N``, from a few clients."""

    def send(chunk: Sequence[int]) -> None:
        with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
            for number in chunk:
                answer = client.get(
                    path.format(n=number),
                    params=params(number) if callable(params) else params,
                    headers={keys.HEADER_REQUEST_ID: f"req-{number}"},
                )
                assert answer.status_code == 200, answer.text

    chunks = [numbers[start::CLIENTS] for start in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, chunks))


def wait_for_lines(paths: Sequence[Path], enough: Callable[[list[str]], bool]) -> None:
    """Wait (bounded) until the lines written to *paths* satisfy *enough*."""
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while time.monotonic() < deadline:
        lines = [line for path in paths for line in path.read_text("utf-8", "replace").splitlines()]
        if enough(lines):
            return
        time.sleep(0.1)
    pytest.fail("the expected lines were not written in time")


def parse(lines: Sequence[str]) -> list[Record]:
    """Every line as a record: each must be one JSON object, head first, no ANSI escape."""
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"line {number} is not JSON: {line[:300]!r}")
        assert isinstance(record, dict), line[:300]
        assert list(record)[:4] == list(keys.HEAD_KEYS), line[:300]
        assert ESC not in json.dumps(record, ensure_ascii=False), line[:300]
        records.append(record)
    return records


def of(records: Sequence[Record], logger: str, message: str | None = None) -> list[Record]:
    """The records of *logger* (and *message*, when given)."""
    return [
        r
        for r in records
        if r[keys.LOGGER] == logger and (message is None or r[keys.MESSAGE] == message)
    ]


def assert_each_request_once(
    records: Sequence[Record],
    numbers: Sequence[int],
    number_of: Callable[[Record], int | None],
    *,
    ids: bool = True,
) -> None:
    """Exactly one record per request number, each carrying that request's id (*ids*)."""
    seen: dict[int, int] = {}
    for record in records:
        number = number_of(record)
        if number is None or number not in numbers:
            continue
        seen[number] = seen.get(number, 0) + 1
        if ids:
            assert record.get(keys.REQUEST_ID) == f"req-{number}", record
    missing = sorted(set(numbers) - set(seen))
    doubled = sorted(number for number, count in seen.items() if count > 1)
    assert (missing[:10], doubled[:10]) == ([], []), f"{len(missing)} missing, {len(doubled)} twice"


def number_in_path(record: Record) -> int | None:
    """The request number of a middleware record (``path`` is ``/items/N``)."""
    path = record.get(keys.HTTP_PATH)
    if isinstance(path, str) and path.startswith("/items/"):
        return int(path.rsplit("/", 1)[1])
    return None


def number_in_message(record: Record) -> int | None:
    """The request number of an access line (its message names ``/items/N``)."""
    message = record[keys.MESSAGE]
    marker = "/items/"
    start = message.find(marker)
    if start < 0:
        return None
    digits = ""
    for char in message[start + len(marker) :]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None


def binary(name: str) -> str:
    """The path of a console script installed beside this Python."""
    return str(BIN / name)


def write_text(directory: Path, name: str, text: str) -> Path:
    """Write *text* to *directory*/*name* and return the path."""
    path = directory / name
    path.write_text(text, "utf-8")
    return path


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port; yield its URL, stop it by pid."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; CI does)")
    port = free_port()
    command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers_ping(port):
            assert process.poll() is None, "redis-server exited at start-up"
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(STOP_TIMEOUT)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
