"""A gateway, a user service and a worker on 127.0.0.1 handle 20 checkouts; one of them fails.

This is what ``make demo`` runs; by hand, from the repository root:
``.venv/bin/python examples/demo_system.py [--logs-dir DIR]``.

- ``gateway`` (FastAPI on uvicorn) takes ``POST /checkout/{user_id}`` and calls
- ``users`` (Flask on werkzeug) with an httpx client made by ``propagate()``, which loads the
  user and queues an invoice job for
- ``worker``, a thread of the user service's process that takes jobs from a ``queue.Queue``.

Both web services run behind ``ContextMiddleware`` in processes of their own, on free ports
of 127.0.0.1, and are stopped at the end. The gateway starts a correlation per request;
the user service adopts it from the ``X-Correlation-Id`` header; each job runs as operation
``invoice_job`` in a child correlation (``parent_correlation_id`` = the request's). The
card of user ``u-1013`` is declined in the worker: one ``FlextExceptions`` error, logged
with its code.

The queue is in-process so that the demo needs nothing installed: no broker, no server of
its own. The job still crosses it the way it would cross Redis or RabbitMQ, as JSON text
carrying the sender's context (``Serialization.inject``), and the worker adopts it with
``Serialization.extracted``: swapping in a real broker changes two lines, not the logging.

Each service writes JSON lines to its own file in ``demo-logs/``. ``configure()`` takes one
stream per process, so the user service's stream is a small router (``ServiceFiles``) that
writes each record to the file of the service it was made in: the records are unchanged.
At the end the demo prints where the logs are and the correlation id of the failed
checkout, then (when the ``flext-logging`` command is installed) its trace and the stats of
all three files; otherwise the jq recipe that finds the same lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import itertools
import json
import logging
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, cast

import flask
import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from werkzeug.serving import make_server

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, shutdown
from flext_logging.integrations import asgi, wsgi
from flext_logging.integrations.httpx import propagate

VERSION = "1.0.0"
BURST = 20
USERS = [f"u-{1001 + n}" for n in range(BURST)]
DECLINED_CARDS = frozenset({"u-1013"})
"""Users whose card the (simulated) payment provider declines: the one failing checkout."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
WORKER_IDLE_TIMEOUT_S = 120.0
STOP = "stop"
JOB_OPERATION = "invoice_job"

gateway_logger = get_logger("gateway.checkout")
users_logger = get_logger("users.orders")
worker_logger = get_logger("worker.invoices")
service_logger = get_logger("demo.service")


# -- gateway: FastAPI on uvicorn ------------------------------------------------------------


def gateway_app(users_url: str) -> FastAPI:
    """The gateway: every checkout is an order placed with the user service."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with propagate(httpx.AsyncClient(base_url=users_url, timeout=10)) as client:
            app.state.users = client
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/checkout/{user_id}")
    async def checkout(user_id: str) -> JSONResponse:
        """Place an order for *user_id* with the user service."""
        users: httpx.AsyncClient = app.state.users
        with FlextContext.Request.request_context(user_id=user_id):  # as authentication would
            gateway_logger.info("checkout_received")
            response = await users.post(f"/users/{user_id}/orders")
            order = response.json()
            gateway_logger.info("checkout_accepted", order_id=order.get("order_id"))
        return JSONResponse(order, status_code=response.status_code)

    app.add_middleware(asgi.ContextMiddleware, service_name="gateway")
    return app


# -- users: Flask on werkzeug, and the worker thread it queues jobs for ----------------------


def users_app(jobs: queue.Queue[str]) -> flask.Flask:
    """The user service: load the user, queue the invoice job, answer 202."""
    app = flask.Flask("users")
    order_numbers = itertools.count(5001)

    @app.post("/users/<user_id>/orders")
    def create_order(user_id: str) -> tuple[dict[str, str], int]:
        """Queue an invoice job for a new order of *user_id*."""
        order_id = f"o-{next(order_numbers)}"
        with FlextContext.Request.request_context(user_id=user_id):
            with FlextContext.Performance.timed_operation("load_user"):
                time.sleep(random.uniform(0.002, 0.02))  # the user database
                FlextContext.Performance.add_operation_metadata("plan", "pro")
            message = {"order_id": order_id, "user_id": user_id}
            jobs.put(json.dumps(FlextContext.Serialization.inject(message)))
            users_logger.info("order_queued", order_id=order_id)
        return {"order_id": order_id}, 202

    app.wsgi_app = wsgi.ContextMiddleware(app.wsgi_app, service_name="users")  # type: ignore[method-assign]
    return app


def charge_card(user_id: str, order_id: str) -> None:
    """Ask the (simulated) payment provider for the money."""
    time.sleep(random.uniform(0.005, 0.03))
    if user_id in DECLINED_CARDS:
        raise FlextExceptions(
            "card declined by the issuer", operation="charge_card", order_id=order_id
        )


def work(jobs: queue.Queue[str]) -> None:
    """The worker: each job in a child correlation of the request that queued it."""
    with FlextContext.Service.service_context("worker", VERSION):
        while True:
            try:
                text = jobs.get(timeout=WORKER_IDLE_TIMEOUT_S)
            except queue.Empty:
                worker_logger.warning("worker_idle_timeout", idle_s=WORKER_IDLE_TIMEOUT_S)
                return
            if text == STOP:
                return
            message = json.loads(text)
            order_id = message["order_id"]
            with (
                FlextContext.Serialization.extracted(message),
                # The job adopts the operation_name of the request that queued it
                # ("POST /users/u-1013/orders"), but it is an operation of its own.
                FlextContext.Request.request_context(operation_name=JOB_OPERATION),
            ):
                worker_logger.info("job_started", order_id=order_id)
                with FlextContext.Performance.timed_operation("render_invoice"):
                    time.sleep(random.uniform(0.002, 0.01))
                try:
                    charge_card(message["user_id"], order_id)
                except FlextExceptions.BaseError:
                    worker_logger.exception("job_failed", order_id=order_id)
                    continue
                worker_logger.info("job_finished", order_id=order_id)


class ServiceFiles(io.TextIOBase):
    """A text stream that writes each line to the file of the service it was logged in.

    The pipeline writes a record in the thread and context that logged it, so the current
    service name (``worker`` inside the worker's ``service_context``) names the file.
    """

    def __init__(self, files: dict[str, IO[str]], default: IO[str]) -> None:
        super().__init__()
        self._files = files
        self._default = default

    def write(self, text: str) -> int:
        """Write *text* to the current service's file."""
        name = FlextContext.Service.get_service_name() or ""
        return self._files.get(name, self._default).write(text)

    def flush(self) -> None:
        """Flush every file."""
        for stream in (*self._files.values(), self._default):
            stream.flush()


# -- running one service in this process ------------------------------------------------------


def _quiet_libraries() -> None:
    # The middleware's request_* records and the client's http_request_* records say it all.
    for name in ("httpx", "werkzeug", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _announce(port_file: Path, port: int) -> None:
    """Tell the demo the port, atomically: it polls for the file."""
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(port), encoding="utf-8")
    partial.replace(port_file)


def _wait_for_stdin_eof() -> None:
    """Block until the demo closes our stdin (or exits): the signal to stop."""
    sys.stdin.read()


def serve_gateway(logs_dir: Path, port_file: Path, users_url: str) -> None:
    """Serve the gateway on a free port until stdin closes."""
    with (logs_dir / "gateway.log").open("w", encoding="utf-8") as log_file:
        configure(format="json", stream=log_file, service_name="gateway", service_version=VERSION)
        _quiet_libraries()
        config = uvicorn.Config(
            gateway_app(users_url),
            host="127.0.0.1",
            port=0,
            log_config=None,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="uvicorn")
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            server.should_exit = True
            thread.join(timeout=STOP_TIMEOUT_S)
            raise SystemExit("gateway did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        service_logger.info("service_started", url=f"http://127.0.0.1:{port}")
        _announce(port_file, port)
        _wait_for_stdin_eof()
        server.should_exit = True
        thread.join(timeout=STOP_TIMEOUT_S)
        service_logger.info("service_stopped")
        shutdown()


def serve_users(logs_dir: Path, port_file: Path) -> None:
    """Serve the user service and run its worker thread until stdin closes."""
    with (
        (logs_dir / "users.log").open("w", encoding="utf-8") as users_file,
        (logs_dir / "worker.log").open("w", encoding="utf-8") as worker_file,
    ):
        # configure() asks for an IO; ServiceFiles has the write() and flush() it uses.
        stream = cast("IO[str]", ServiceFiles({"worker": worker_file}, default=users_file))
        configure(format="json", stream=stream, service_name="users", service_version=VERSION)
        _quiet_libraries()
        jobs: queue.Queue[str] = queue.Queue()
        worker = threading.Thread(target=work, args=(jobs,), name="worker")
        worker.start()
        server = make_server("127.0.0.1", 0, users_app(jobs), threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="werkzeug")
        thread.start()
        service_logger.info("service_started", url=f"http://127.0.0.1:{server.server_port}")
        _announce(port_file, server.server_port)
        _wait_for_stdin_eof()
        server.shutdown()
        thread.join(timeout=STOP_TIMEOUT_S)
        jobs.put(STOP)  # after every job the served requests queued
        worker.join(timeout=STOP_TIMEOUT_S)
        service_logger.info("service_stopped", jobs_left=jobs.qsize())
        shutdown()


# -- the demo: start both, send the burst, stop both, show the failed request ----------------


class _Service:
    """One service in a child process of the demo, on the port it announced."""

    def __init__(self, name: str, logs_dir: Path, work_dir: Path, *extra: str) -> None:
        self.name = name
        port_file = work_dir / f"{name}.port"
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                name,
                "--logs-dir",
                str(logs_dir),
                "--port-file",
                str(port_file),
                *extra,
            ],
            stdin=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{name} did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{int(port_file.read_text(encoding='utf-8'))}"

    def stop(self) -> None:
        """Close the service's stdin and wait for it to stop; kill it if it does not."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def _running(name: str, logs_dir: Path, work_dir: Path, *extra: str) -> Iterator[_Service]:
    service = _Service(name, logs_dir, work_dir, *extra)
    try:
        yield service
    finally:
        service.stop()


async def send_burst(gateway_url: str) -> dict[str, tuple[int, str]]:
    """Send one checkout per user at once; return user -> (status, correlation id)."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        responses = await asyncio.gather(*(client.post(f"/checkout/{user}") for user in USERS))
    return {
        user: (response.status_code, response.headers["X-Correlation-Id"])
        for user, response in zip(USERS, responses, strict=True)
    }


def _cli_command() -> list[str] | None:
    """The ``flext-logging`` command, or None while the CLI is not installed."""
    if importlib.util.find_spec("flext_logging.cli") is None:
        return None
    beside = Path(sys.executable).with_name("flext-logging")
    found = str(beside) if beside.exists() else shutil.which("flext-logging")
    return [found] if found else [sys.executable, "-m", "flext_logging"]


def _show(command: list[str], shown: list[str]) -> int:
    print(f"\n$ {' '.join(shown)}", flush=True)
    return subprocess.run(command, check=False, timeout=120).returncode


def run_demo(logs_dir: Path) -> int:
    """Run the system, print where its logs are, and trace the failed checkout."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as work_dir,
        _running("users", logs_dir, Path(work_dir)) as users,
        _running("gateway", logs_dir, Path(work_dir), "--users-url", users.url) as gateway,
    ):
        print(f"gateway on {gateway.url} -> users on {users.url} -> worker thread", flush=True)
        results = asyncio.run(send_burst(gateway.url))
    failed_user = next(iter(sorted(DECLINED_CARDS)))
    failed_id = results[failed_user][1]
    statuses = sorted({status for status, _ in results.values()})
    print(f"sent {len(results)} checkouts (HTTP {statuses}); all services stopped")
    files = [logs_dir / f"{name}.log" for name in ("gateway", "users", "worker")]
    shown_files = [_display(path) for path in files]
    print("logs, one JSON line per record:")
    for path, shown in zip(files, shown_files, strict=True):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        print(f"  {shown}  ({lines} lines)")
    print(f"failed checkout (user {failed_user}, card declined in the worker): {failed_id}")
    cli = _cli_command()
    if cli is None:
        print("\nThe flext-logging command is not installed yet; the same lines with jq:")
        print(
            f"  jq -s -c --arg id {failed_id} 'map(select(.correlation_id == $id or "
            f".parent_correlation_id == $id)) | sort_by(.timestamp)[]' {' '.join(shown_files)}"
        )
        return 0
    traced = _show(
        [*cli, "trace", failed_id, *map(str, files)],
        ["flext-logging", "trace", failed_id, *shown_files],
    )
    stats = _show([*cli, "stats", *map(str, files)], ["flext-logging", "stats", *shown_files])
    return 1 if traced or stats else 0


def _display(path: Path) -> str:
    """*path* relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Run the demo, or (``--serve``) one of its services."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--logs-dir",
        type=Path,
        default=Path("demo-logs"),
        help="where the three services write their JSON lines (default: demo-logs)",
    )
    parser.add_argument("--serve", choices=("gateway", "users"), help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--users-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "gateway":
        serve_gateway(args.logs_dir, args.port_file, args.users_url)
    elif args.serve == "users":
        serve_users(args.logs_dir, args.port_file)
    else:
        return run_demo(args.logs_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
