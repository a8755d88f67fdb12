"""Credentials in URLs never reach the log, in the lines the real libraries write.

httpx logs every request at INFO with its full URL; uvicorn and werkzeug log each
request line with its query string; the requests integration's failure record carries
the exception text, which names the URL. User info and the values of secret-named query
parameters are redacted in every string, so all of these are covered at the default level.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import flask
import httpx
import pytest
import requests
from integrations.web_servers import by_message, closed_port_url, serve_asgi, serve_wsgi, wait_for

from flext_logging import configure, keys
from flext_logging.integrations.requests import propagate
from flext_logging.redaction import REDACTED

PASSWORD = "hunter2-basic-pass"
TOKEN = "r3set-t0ken-6f1c"
FORMATS = ["json", "logfmt", "console"]


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def reset(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/reset", reset)])


@pytest.fixture(scope="module")
def asgi_url() -> Iterator[str]:
    """A Starlette app on uvicorn, whose access lines go through the pipeline."""
    with serve_asgi(_starlette_app()) as url:
        yield url


def _configured(output_format: str) -> Callable[[], str]:
    stream = io.StringIO()
    configure(format=output_format, stream=stream)
    return stream.getvalue


@pytest.mark.parametrize("output_format", FORMATS)
def test_httpx_request_line_hides_user_info_and_secret_parameters(
    asgi_url: str, output_format: str
) -> None:
    """httpx's own "HTTP Request: GET http://user:pw@host/p?token=..." line is redacted."""
    output = _configured(output_format)
    host = asgi_url.removeprefix("http://")
    response = httpx.get(f"http://ann:{PASSWORD}@{host}/reset?token={TOKEN}&lang=en", timeout=10)
    assert response.status_code == 200
    wait_for(lambda: "HTTP Request" in output())
    (line,) = [line for line in output().splitlines() if "HTTP Request" in line]
    assert PASSWORD not in line
    assert TOKEN not in line
    assert f"token={REDACTED}" in line
    assert "lang=en" in line


@pytest.mark.parametrize("output_format", FORMATS)
def test_uvicorn_access_line_hides_secret_parameters(asgi_url: str, output_format: str) -> None:
    """uvicorn's access line keeps the path and ordinary parameters, not the token."""
    output = _configured(output_format)
    httpx.get(f"{asgi_url}/reset?token={TOKEN}&lang=en", timeout=10)
    wait_for(lambda: "/reset?" in output())
    (line,) = [line for line in output().splitlines() if "/reset?" in line and "uvicorn" in line]
    assert TOKEN not in line
    assert f"/reset?token={REDACTED}&lang=en" in line


@pytest.mark.parametrize("output_format", FORMATS)
def test_werkzeug_access_line_hides_secret_parameters(output_format: str) -> None:
    """werkzeug's request line ("GET /reset?password=... HTTP/1.1") is redacted."""
    app = flask.Flask("tests_url_secrets")

    @app.get("/reset")
    def reset() -> str:
        return "ok"

    output = _configured(output_format)
    with serve_wsgi(app) as url:
        logging.getLogger("werkzeug").setLevel(logging.INFO)  # serve_wsgi puts it back
        httpx.get(f"{url}/reset?password={PASSWORD}&lang=en", timeout=10)
        wait_for(lambda: bool(_werkzeug_lines(output())))
    (line,) = _werkzeug_lines(output())
    assert PASSWORD not in line
    assert f"/reset?password={REDACTED}&lang=en" in line


def _werkzeug_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "/reset?" in line and "werkzeug" in line]


def test_requests_failure_record_hides_the_query_in_the_error_message() -> None:
    """http_request_failed: error.message ("Max retries exceeded with url: ...") is redacted."""
    output = _configured("json")
    url = closed_port_url()
    with propagate(requests.Session()) as session, pytest.raises(requests.ConnectionError):
        session.get(f"{url}/reset?password={PASSWORD}&token={TOKEN}", timeout=5)
    records = [json.loads(line) for line in output().splitlines()]
    (failed,) = by_message(records, keys.EVENT_HTTP_REQUEST_FAILED)
    assert "Max retries exceeded" in failed[keys.ERROR][keys.ERROR_MESSAGE]
    assert f"password={REDACTED}&token={REDACTED}" in failed[keys.ERROR][keys.ERROR_MESSAGE]
    assert PASSWORD not in output()
    assert TOKEN not in output()
