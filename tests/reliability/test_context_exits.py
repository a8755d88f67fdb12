"""A scope that ends in another ``contextvars.Context`` than it began in never raises.

Frameworks do this: Starlette runs each step of a sync generator given to
``StreamingResponse`` in a fresh copy of the request's context, and the event loop
closes an abandoned async generator in a task of its own. The exit then restores the
values from before the scope in the Context it runs in.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from integrations.web_servers import by_message, serve_asgi, wait_for

from flext_logging import FlextContext, configure, get_logger, keys

log = get_logger("tests.exits")

SCOPES: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "request_context": lambda: FlextContext.Request.request_context(
        request_id="inner", metadata={"step": "inner"}
    ),
    "new_correlation": FlextContext.Correlation.new_correlation,
    "inherit_correlation": FlextContext.Correlation.inherit_correlation,
    "timed_operation": lambda: FlextContext.Performance.timed_operation("inner_op"),
    "span": FlextContext.Trace.span,
}


def _fields() -> dict[str, Any]:
    return dict(FlextContext.Serialization.get_full_context())


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_exit_in_a_copy_made_inside_the_scope_restores_that_copy(scope: str) -> None:
    """Entered in one Context, left in a copy taken inside it: no error, outer values back."""
    configure(format="json", stream=io.StringIO())
    with FlextContext.Request.request_context(request_id="outer"):
        outer = _fields()
        entered = contextvars.copy_context()
        manager = SCOPES[scope]()
        entered.run(manager.__enter__)
        exiting = entered.run(contextvars.copy_context)  # sees the scope's values
        exiting.run(manager.__exit__, None, None, None)
        assert exiting.run(_fields) == outer


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_exit_in_a_context_that_never_saw_the_scope_leaves_it_alone(scope: str) -> None:
    """Left in a Context copied before the scope began: no error, nothing changed there."""
    configure(format="json", stream=io.StringIO())
    with FlextContext.Request.request_context(request_id="outer"):
        outer = _fields()
        before = contextvars.copy_context()
        manager = SCOPES[scope]()
        contextvars.copy_context().run(manager.__enter__)
        before.run(manager.__exit__, None, None, None)
        assert before.run(_fields) == outer


def test_an_operation_left_in_another_context_is_still_named() -> None:
    """operation_finished names its operation even when its exit runs in a Context that
    never saw the operation begin."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    before = contextvars.copy_context()
    manager = FlextContext.Performance.timed_operation("inner_op")
    contextvars.copy_context().run(manager.__enter__)
    before.run(manager.__exit__, None, None, None)
    (finished,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert finished[keys.MESSAGE] == keys.EVENT_OPERATION_FINISHED
    assert finished[keys.OPERATION] == "inner_op"


def test_async_generator_closed_by_the_event_loop_restores_its_own_context() -> None:
    """An abandoned async generator is closed in the loop's task: no error, outer ids back."""
    stream = io.StringIO()
    configure(format="json", stream=stream)
    errors: list[dict[str, Any]] = []

    async def pages() -> AsyncIterator[int]:
        try:
            with FlextContext.Request.request_context(request_id="inner"):
                yield 1
                yield 2
        finally:
            log.info("pages closed")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, error: errors.append(error))
        with FlextContext.Request.request_context(request_id="outer"):
            generator = pages()
            await generator.__anext__()
            del generator  # abandoned mid-iteration: the loop's finaliser closes it
            gc.collect()
            for _ in range(10):
                await asyncio.sleep(0)

    asyncio.run(main())
    assert errors == []
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    (closed,) = by_message(records, "pages closed")
    assert closed[keys.REQUEST_ID] == "outer"


def test_streaming_response_with_a_sync_generator_through_uvicorn() -> None:
    """A scope inside a StreamingResponse's sync generator: the whole body, no app error."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    stream = io.StringIO()

    def chunks() -> Iterator[str]:
        with FlextContext.Performance.timed_operation("export"):
            for number in range(3):
                log.info("chunk sent", number=number)
                yield f"chunk {number}\n"

    async def export(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks())

    app = Starlette(routes=[Route("/export", export)])
    with serve_asgi(app) as url:
        configure(format="json", stream=stream)
        response = httpx.get(f"{url}/export", timeout=10)

        def records() -> list[dict[str, Any]]:
            return [json.loads(line) for line in stream.getvalue().splitlines()]

        wait_for(lambda: bool(by_message(records(), keys.EVENT_OPERATION_FINISHED)))
    assert (response.status_code, response.text) == (200, "chunk 0\nchunk 1\nchunk 2\n")
    assert [r for r in records() if r[keys.LEVEL] == "error"] == []
    assert len(by_message(records(), "chunk sent")) == 3
