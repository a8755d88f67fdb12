"""Production stacks: gunicorn, uvicorn and Celery as deployed, every line of every process.

Each test starts the real program on 127.0.0.1 with a free port, sends a bounded load,
stops it by pid and reads what it wrote: every line JSON in the schema, no ANSI escape,
each request's records exactly once with that request's ids. The commands are the ones
docs/deployment.md gives.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from scripts import EXAMPLES
from stacks import (
    Record,
    assert_each_request_once,
    binary,
    free_port,
    load,
    number_in_message,
    number_in_path,
    of,
    parse,
    redis_server,
    serve,
    wait_for_lines,
    write_text,
)

from flext_logging import FlextContext, keys

pytest.importorskip("gunicorn", reason="the test extra (gunicorn) is not installed")
pytest.importorskip("uvicorn_worker", reason="the test extra (uvicorn-worker) is not installed")

REQUESTS = 1000
AFTER_RELOAD = 200
TASKS = 300
MIDDLEWARE = "flext_logging.integrations.asgi"
WSGI_MIDDLEWARE = "flext_logging.integrations.wsgi"
APP = "stack.app"
ROOT_WARNING = "You're running the worker with superuser privileges"
REDIRECT_WARNING = "flext_logging: sys.stdout was replaced by Celery's logging proxy"


def _app_number(record: Record) -> int | None:
    return record.get("n") if record[keys.LOGGER] == APP else None


def _assert_requests_logged(
    records: list[Record], numbers: list[int], *, middleware: str, access: str
) -> None:
    """Each request: request_started, the app's record, request_finished, one access line."""
    for message in (keys.EVENT_REQUEST_STARTED, keys.EVENT_REQUEST_FINISHED):
        assert_each_request_once(of(records, middleware, message), numbers, number_in_path)
    assert_each_request_once(of(records, APP, "item served"), numbers, _app_number)
    assert_each_request_once(of(records, access), numbers, number_in_message)


def _gunicorn(port: int, *options: str) -> list[str]:
    return [
        binary("gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--access-logfile",
        "-",
        "--no-control-socket",
        *options,
    ]


# -- gunicorn + uvicorn workers -------------------------------------------------------------


@pytest.mark.parametrize("preload", [False, True], ids=["plain", "preload"])
def test_gunicorn_uvicorn_workers_write_every_line_once_across_a_reload(
    tmp_path: Path, preload: bool
) -> None:
    """gunicorn -k UvicornWorker -w 2: uvicorn's lines arrive, each line once, after HUP too.

    The worker hands uvicorn's loggers gunicorn's handler lists; routing them used to
    leave uvicorn.error with no handler and propagate=False (not one uvicorn line), and
    a reload with --preload re-installed gunicorn's handlers (every line twice).
    """
    port = free_port()
    options = ["--preload"] if preload else ["--config", "gunicorn_conf.py"]
    argv = _gunicorn(port, "--worker-class", "uvicorn_worker.UvicornWorker", *options)
    with serve([*argv, "asgi_app:app"], tmp_path, port=port) as server:
        first = list(range(1, REQUESTS + 1))
        load(server.url, first)
        assert httpx.get(f"{server.url}/boom", timeout=10).status_code == 500
        server.signal(signal.SIGHUP)
        # The reload replaces both workers; its new ones log "Booting worker" once each.
        wait_for_lines(
            [server.stdout], lambda lines: sum("Booting worker" in line for line in lines) >= 4
        )
        second = list(range(REQUESTS + 1, REQUESTS + AFTER_RELOAD + 1))
        _load_when_ready(server.url, second)
    records = parse(server.lines())
    _assert_requests_logged(records, first + second, middleware=MIDDLEWARE, access="uvicorn.access")
    started = of(records, "uvicorn.error")
    assert sum(r[keys.MESSAGE].startswith("Started server process") for r in started) == 4
    failed = of(records, MIDDLEWARE, keys.EVENT_REQUEST_FAILED)
    assert [r[keys.ERROR][keys.ERROR_MESSAGE] for r in failed] == ["boom in the app"]
    master = of(records, "gunicorn.error")
    for message in ("Handling signal: hup", "Hang up: Master", "Shutting down: Master"):
        assert [r[keys.MESSAGE] for r in master].count(message) == 1
    assert all(r[keys.SERVICE_NAME] in {"stack-asgi", "stack-master"} for r in records)


def _load_when_ready(url: str, numbers: list[int]) -> None:
    """Load right after a reload: the old workers may refuse a connection while stopping."""
    deadline = time.monotonic() + 20
    while True:
        try:
            load(url, numbers[:1])
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    load(url, numbers[1:])


# -- gunicorn sync workers (Flask) ----------------------------------------------------------


def test_gunicorn_sync_workers_log_master_and_access_lines_as_json_with_ids(
    tmp_path: Path,
) -> None:
    """Sync workers with Flask: the master's lines are JSON, access lines carry the ids."""
    port = free_port()
    argv = _gunicorn(port, "--config", "gunicorn_conf.py", "wsgi_app:app")
    with serve(argv, tmp_path, port=port) as server:
        numbers = list(range(1, REQUESTS + 1))
        load(server.url, numbers)
    records = parse(server.lines())
    _assert_requests_logged(records, numbers, middleware=WSGI_MIDDLEWARE, access="gunicorn.access")
    (starting,) = of(records, "gunicorn.error", "Starting gunicorn " + _gunicorn_version())
    assert starting[keys.SERVICE_NAME] == "stack-master"
    booted = [r for r in of(records, "gunicorn.error") if "Booting worker" in r[keys.MESSAGE]]
    assert len(booted) == 2


def _gunicorn_version() -> str:
    import gunicorn

    return str(gunicorn.__version__)


# -- uvicorn --------------------------------------------------------------------------------


def test_uvicorn_workers_sharing_one_pipe_tear_no_record(tmp_path: Path) -> None:
    """uvicorn --workers 2 | cat > file: records of 3-60 KB from both workers stay whole.

    The supervising process never imports the application: the JSON log config gives
    its few lines the schema too.
    """
    port = free_port()
    argv = [binary("uvicorn"), "asgi_app:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", "2", "--log-config", str(EXAMPLES / "uvicorn_log_config.json")]

    def pad(number: int) -> dict[str, int]:
        return {"pad": 3000 + (number * 7919) % 57000}

    with serve(argv, tmp_path, port=port, pipe=True) as server:
        numbers = list(range(1, REQUESTS + 1))
        load(server.url, numbers, params=pad)
    records = parse(server.lines())
    served = of(records, APP, "item served")
    assert_each_request_once(served, numbers, _app_number)
    assert all(len(r["pad"]) == pad(r["n"])["pad"] for r in served if r["n"] in numbers)
    assert_each_request_once(of(records, "uvicorn.access"), numbers, number_in_message)
    started = of(records, "uvicorn.error")
    assert sum(r[keys.MESSAGE].startswith("Started server process") for r in started) == 2


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "flext_logging.JsonFormatter"}},
    "handlers": {
        "file": {"class": "logging.FileHandler", "filename": "", "formatter": "json"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["file"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"level": "INFO"},
    },
    "root": {"handlers": ["file"], "level": "INFO"},
}


def test_uvicorn_log_config_file_handler_receives_every_record(tmp_path: Path) -> None:
    """uvicorn --log-config, no configure(): the config's FileHandler gets ours too.

    The application's get_logger() records and the middleware's request_* records went
    to stdout instead, beside the JSON lines of the file.
    """
    log_file = tmp_path / "app.log"
    config = {**LOG_CONFIG, "handlers": {"file": {**LOG_CONFIG["handlers"]["file"]}}}
    config["handlers"]["file"]["filename"] = str(log_file)
    config_path = write_text(tmp_path, "log_config.json", json.dumps(config))
    port = free_port()
    argv = [binary("uvicorn"), "asgi_app:app", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--log-config", str(config_path)]
    with serve(argv, tmp_path, port=port, env={"STACK_CONFIGURE": "0"}) as server:
        numbers = list(range(1, REQUESTS + 1))
        load(server.url, numbers)
    assert server.lines() == []  # nothing on stdout or stderr
    records = parse(log_file.read_text("utf-8").splitlines())
    _assert_requests_logged(records, numbers, middleware=MIDDLEWARE, access="uvicorn.access")
    assert of(records, "uvicorn.error")[0][keys.MESSAGE].startswith("Started server process")


# -- Celery ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    """A redis-server for the Celery worker tests."""
    with redis_server() as url:
        yield url


def _publish(broker_url: str, numbers: list[int]) -> dict[str, int]:
    """Send one task per number, each in request ``req-N``; return the task ids' numbers."""
    from celery import Celery

    from flext_logging.integrations.celery import install

    app = Celery("stack", broker=broker_url, set_as_current=False)
    install(app)
    sent = {}
    try:
        for number in numbers:
            with FlextContext.Request.request_context(request_id=f"req-{number}"):
                sent[app.send_task("stack.work", args=[number]).id] = number
    finally:
        app.close()
    return sent


@pytest.mark.parametrize("installed", [True, False], ids=["install", "hijacked"])
def test_celery_worker_writes_every_line_as_json_with_the_task_ids(
    tmp_path: Path, broker: str, installed: bool
) -> None:
    """A celery worker (prefork, 2 processes) with configure() at import, no setup_logging hook.

    Celery used to take over: flext lines wrapped by its stdout redirect, logging lines
    in its text format without ids. install(app) hooks setup_logging; without it the
    hijack is detected and undone, with one warning on stderr.
    """
    argv = [binary("celery"), "--app", "celery_app", "--quiet", "worker", "--loglevel", "INFO"]
    argv += ["--concurrency", "2", "--pool", "prefork", "--without-gossip", "--without-mingle"]
    env = {"STACK_BROKER": broker, "STACK_INSTALL": "1" if installed else "0"}
    # CI runs as root, which Celery warns about on stderr (a warning, not a log line).
    env["PYTHONWARNINGS"] = f"ignore:{ROOT_WARNING}"
    numbers = list(range(1, TASKS + 1))

    def ready(_: str) -> bool:
        return "ready." in (tmp_path / "stdout.log").read_text("utf-8", "replace")

    with serve(argv, tmp_path, port=0, env=env, ready=ready) as server:
        sent = _publish(broker, numbers)
        wait_for_lines(
            [server.stdout],
            lambda lines: sum('"library line"' in line for line in lines) >= TASKS,
        )
    stderr = server.stderr.read_text("utf-8").splitlines()
    if installed:
        assert stderr == []
    else:  # told once by each process (the main one and its two pool processes)
        assert stderr
        assert all(line.startswith(REDIRECT_WARNING) for line in stderr), stderr
    lines = server.stdout.read_text("utf-8").splitlines()
    # Celery's signal handler print()s this notice itself, on stdout: no log record.
    assert lines[-2:] == ["", "worker: Warm shutdown (MainProcess)"]
    records = parse(lines[:-2])
    number_of = _task_number(sent)
    for logger, message in (("stack.task", "task ran"), ("stack.library", "library line")):
        assert_each_request_once(of(records, logger, message), numbers, number_of, ids=installed)
    if installed:  # the integration's own records, with the publisher's request ids
        for message in (keys.EVENT_TASK_STARTED, keys.EVENT_TASK_SUCCEEDED):
            assert_each_request_once(
                of(records, "flext_logging.celery", message), numbers, number_of
            )
    traced = [r for r in of(records, "celery.app.trace") if "succeeded" in r[keys.MESSAGE]]
    assert_each_request_once(traced, numbers, number_of, ids=installed)


def _task_number(sent: dict[str, int]) -> Any:
    def number_of(record: Record) -> int | None:
        if "n" in record:
            return int(record["n"])
        task_id = record.get(keys.TASK_ID) or record.get("data", {}).get("id", "")
        return sent.get(task_id)

    return number_of
