"""gRPC interceptors against a real server and client on 127.0.0.1 (sync and grpc.aio)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from scripts import EXAMPLES, run_python

grpc = pytest.importorskip("grpc", reason="the grpc extra (grpcio) is not installed")

from grpc import aio  # noqa: E402 - after the importorskip that guards it

from flext_logging import FlextContext, get_logger  # noqa: E402
from flext_logging.integrations.grpc import (  # noqa: E402
    AsyncServerInterceptor,
    ClientInterceptor,
    ServerInterceptor,
    async_client_interceptors,
)
from flext_logging.testing import capture_logs  # noqa: E402

Correlation = FlextContext.Correlation
Request = FlextContext.Request

handler_logger = get_logger("tests.grpc.handler")
SAY = "/test.Echo/Say"
COUNT = "/test.Echo/Count"
TIMEOUT = 10.0
Records = list[dict[str, Any]]


def _by(records: Records, logger: str, message: str | None = None) -> Records:
    return [
        r for r in records if r["logger"] == logger and (message is None or r["message"] == message)
    ]


def _wait_for(records: Records, logger: str, message: str) -> dict[str, Any]:
    """The record a grpc thread writes after the call returned, waited for (bounded)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = _by(records, logger, message)
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no {message} record from {logger}")


# -- Handlers (generic: bytes in, bytes out, no generated code) ------------------------


def _say(request: bytes, context: grpc.ServicerContext) -> bytes:
    handler_logger.info("handling", payload=request.decode())
    if request == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
    if request == b"crash":
        raise RuntimeError("handler crashed")
    return b"echo:" + request


def _count(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for number in range(3):
        handler_logger.info("chunk", number=number)
        yield str(number).encode()


def _endless(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for number in range(1000):  # bounded: the client cancels after two
        handler_logger.info("tick", number=number)
        yield b"tick"
        time.sleep(0.01)


def _join(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    handler_logger.info("joining")
    return b"".join(requests)


def _chat(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    for request in requests:
        handler_logger.info("chatting")
        yield request


async def _join_async(requests: AsyncIterator[bytes], context: Any) -> bytes:
    handler_logger.info("joining")
    return b"".join([request async for request in requests])


async def _chat_async(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for request in requests:
        handler_logger.info("chatting")
        yield request


async def _slow_async(request: bytes, context: Any) -> bytes:
    handler_logger.info("sleeping")
    await asyncio.sleep(5)  # bounded; the client gives up long before
    return b"late"


async def _say_async(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
    handler_logger.info("handling", payload=request.decode())
    if request == b"missing":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
    if request == b"crash":
        raise RuntimeError("handler crashed")
    await asyncio.sleep(0)
    return b"echo:" + request


async def _count_async(
    request: bytes, context: aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    for number in range(3):
        handler_logger.info("chunk", number=number)
        await asyncio.sleep(0)
        yield str(number).encode()


def _generic_handler(
    say: Callable[..., Any],
    count: Callable[..., Any],
    join: Callable[..., Any] = _join,
    chat: Callable[..., Any] = _chat,
) -> Any:
    return grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Say": grpc.unary_unary_rpc_method_handler(say),
            "Count": grpc.unary_stream_rpc_method_handler(count),
            "Endless": grpc.unary_stream_rpc_method_handler(_endless),
            "Join": grpc.stream_unary_rpc_method_handler(join),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
            "Slow": grpc.unary_unary_rpc_method_handler(_slow_async),
        },
    )


@pytest.fixture
def sync_target() -> Iterator[str]:
    """A real grpc.server on a free loopback port, with the server interceptor."""
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=[ServerInterceptor()])
    server.add_generic_rpc_handlers((_generic_handler(_say, _count),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None).wait(timeout=TIMEOUT)


@pytest.fixture
def sync_channel(sync_target: str) -> Iterator[grpc.Channel]:
    """A client channel to the sync server, with the client interceptor."""
    with grpc.insecure_channel(sync_target) as channel:
        yield grpc.intercept_channel(channel, ClientInterceptor())


# -- Sync API --------------------------------------------------------------------------


def test_server_records_carry_the_clients_correlation(
    sync_channel: grpc.Channel,
) -> None:
    """The handler runs in the client's correlation, as over HTTP, with its request id."""
    say = sync_channel.unary_unary(SAY)
    with (
        capture_logs() as records,
        Correlation.new_correlation() as client_id,
        Request.request_context(request_id="r-1"),
    ):
        assert say(b"hi", timeout=TIMEOUT) == b"echo:hi"
    [handling] = _by(records, "tests.grpc.handler")
    assert handling["correlation_id"] == client_id
    assert "parent_correlation_id" not in handling
    assert handling["request_id"] == "r-1"
    server = _by(records, "flext_logging.grpc.server")
    assert [r["message"] for r in server] == ["rpc_started", "rpc_finished"]
    assert all(r["correlation_id"] == handling["correlation_id"] for r in server)
    finished = server[1]
    assert (finished["level"], finished["rpc_method"], finished["rpc_code"]) == (
        "info",
        SAY,
        "OK",
    )
    assert finished["duration_ms"] >= 0


def test_client_logs_the_call_in_its_own_context(sync_channel: grpc.Channel) -> None:
    """The client writes rpc_started/rpc_finished with its own correlation."""
    say = sync_channel.unary_unary(SAY)
    with capture_logs() as records, Correlation.new_correlation() as client_id:
        say(b"hi", timeout=TIMEOUT)
    client = _by(records, "flext_logging.grpc.client")
    assert [(r["message"], r["correlation_id"]) for r in client] == [
        ("rpc_started", client_id),
        ("rpc_finished", client_id),
    ]
    assert client[1]["rpc_code"] == "OK"
    assert client[1]["rpc_method"] == SAY


def test_aborted_call_is_logged_as_failed_on_both_sides(sync_channel: grpc.Channel) -> None:
    """An abort ends in rpc_failed at error level with the status code and details."""
    say = sync_channel.unary_unary(SAY)
    with capture_logs() as records, pytest.raises(grpc.RpcError) as raised:
        say(b"missing", timeout=TIMEOUT)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    for logger in ("flext_logging.grpc.server", "flext_logging.grpc.client"):
        [failed] = _by(records, logger, "rpc_failed")
        assert failed["level"] == "error"
        assert failed["rpc_code"] == "NOT_FOUND"
        assert failed["rpc_details"] == "no such greeting"
        assert "error" not in failed


def test_handler_exception_is_logged_with_the_error(sync_channel: grpc.Channel) -> None:
    """A handler that raises is logged as UNKNOWN with the exception as data."""
    say = sync_channel.unary_unary(SAY)
    with capture_logs() as records, pytest.raises(grpc.RpcError) as raised:
        say(b"crash", timeout=TIMEOUT)
    assert raised.value.code() == grpc.StatusCode.UNKNOWN
    [failed] = _by(records, "flext_logging.grpc.server", "rpc_failed")
    assert failed["rpc_code"] == "UNKNOWN"
    assert failed["error"]["type"] == "RuntimeError"
    assert failed["error"]["message"] == "handler crashed"


def test_streaming_responses_are_produced_in_the_callers_correlation(
    sync_channel: grpc.Channel,
) -> None:
    """Every chunk of a server stream is logged in the client's correlation."""
    count = sync_channel.unary_stream(COUNT)
    with capture_logs() as records, Correlation.new_correlation() as client_id:
        assert list(count(b"", timeout=TIMEOUT)) == [b"0", b"1", b"2"]
        client_finished = _wait_for(records, "flext_logging.grpc.client", "rpc_finished")
    chunks = _by(records, "tests.grpc.handler", "chunk")
    assert [c["number"] for c in chunks] == [0, 1, 2]
    assert {c["correlation_id"] for c in chunks} == {client_id}
    assert _by(records, "flext_logging.grpc.server", "rpc_finished")[0]["rpc_code"] == "OK"
    assert client_finished["correlation_id"] == client_id


def test_cancelled_stream_is_logged_as_cancelled_and_leaves_no_context(
    sync_channel: grpc.Channel,
) -> None:
    """A stream the client drops ends in one CANCELLED record; the next call starts clean."""
    endless = sync_channel.unary_stream("/test.Echo/Endless")
    with capture_logs() as records:
        with Correlation.new_correlation() as client_id:
            responses = endless(b"", timeout=TIMEOUT)
            assert [next(responses), next(responses)] == [b"tick", b"tick"]
            responses.cancel()
        failed = _wait_for(records, "flext_logging.grpc.server", "rpc_failed")
        sync_channel.unary_unary(SAY)(b"after", timeout=TIMEOUT)
    assert failed["rpc_code"] == "CANCELLED"
    assert failed["correlation_id"] == client_id
    assert "error" not in failed
    [after] = _by(records, "tests.grpc.handler", "handling")
    assert after["correlation_id"] != client_id
    assert len(_by(records, "tests.grpc.handler", "tick")) < 1000


def test_streaming_requests_carry_the_context_too(sync_channel: grpc.Channel) -> None:
    """stream-unary and stream-stream calls are adopted and logged like unary ones."""
    join = sync_channel.stream_unary("/test.Echo/Join")
    chat = sync_channel.stream_stream("/test.Echo/Chat")
    with capture_logs() as records, Correlation.new_correlation() as client_id:
        assert join(iter([b"a", b"b"]), timeout=TIMEOUT) == b"ab"
        assert list(chat(iter([b"x", b"y"]), timeout=TIMEOUT)) == [b"x", b"y"]
        _wait_for(records, "flext_logging.grpc.client", "rpc_finished")
    handled = _by(records, "tests.grpc.handler")
    assert [r["message"] for r in handled] == ["joining", "chatting", "chatting"]
    assert {r["correlation_id"] for r in handled} == {client_id}
    finished = _by(records, "flext_logging.grpc.server", "rpc_finished")
    assert [r["rpc_method"] for r in finished] == ["/test.Echo/Join", "/test.Echo/Chat"]


def test_consecutive_calls_never_see_each_others_context(sync_channel: grpc.Channel) -> None:
    """Server threads are reused; each call's records carry only its own caller's ids."""
    say = sync_channel.unary_unary(SAY)
    sent = []
    with capture_logs() as records:
        for number in range(20):
            with Request.request_context(request_id=f"req-{number}"):
                say(f"{number}".encode(), timeout=TIMEOUT)
                sent.append(f"req-{number}")
        say(b"without-request", timeout=TIMEOUT)
    handled = _by(records, "tests.grpc.handler")
    assert [r.get("request_id") for r in handled[:-1]] == sent
    assert handled[-1]["request_id"] not in sent  # a fresh one, generated by the server


def test_hostile_metadata_is_dropped_and_the_call_still_succeeds(sync_target: str) -> None:
    """An invalid id from a foreign client is reported, never adopted; the call works."""
    with grpc.insecure_channel(sync_target) as channel, capture_logs() as records:
        reply = channel.unary_unary(SAY)(
            b"hi",
            timeout=TIMEOUT,
            metadata=[("x-correlation-id", "bad id;drop table"), ("x-request-id", "ok-1")],
        )
    assert reply == b"echo:hi"
    [dropped] = [r for r in records if r["message"] == "invalid_context_id_dropped"]
    assert dropped["field"] == "correlation_id"
    [handling] = _by(records, "tests.grpc.handler")
    assert handling["request_id"] == "ok-1"
    assert handling["correlation_id"] != "bad id;drop table"
    assert "drop table" not in str(handling)


def test_traceparent_carries_the_trace_to_the_server(sync_channel: grpc.Channel) -> None:
    """Inside a span, the server's records join the client's trace as a child span."""
    say = sync_channel.unary_unary(SAY)
    with capture_logs() as records, FlextContext.Trace.span() as span:
        say(b"hi", timeout=TIMEOUT)
    [handling] = _by(records, "tests.grpc.handler")
    assert handling["trace_id"] == span.trace_id
    assert handling["span_id"] != span.span_id


def test_caller_metadata_set_explicitly_is_not_overwritten(sync_target: str) -> None:
    """A request id the caller passes in metadata wins over the context's."""
    with grpc.insecure_channel(sync_target) as raw, capture_logs() as records:
        channel = grpc.intercept_channel(raw, ClientInterceptor())
        with Request.request_context(request_id="from-context"):
            channel.unary_unary(SAY)(
                b"hi", timeout=TIMEOUT, metadata=[("x-request-id", "explicit-1")]
            )
    [handling] = _by(records, "tests.grpc.handler")
    assert handling["request_id"] == "explicit-1"


# -- grpc.aio API ----------------------------------------------------------------------


async def _with_aio_server(run: Callable[[aio.Channel], Any]) -> Any:
    server = aio.server(interceptors=[AsyncServerInterceptor()])
    server.add_generic_rpc_handlers(
        (_generic_handler(_say_async, _count_async, _join_async, _chat_async),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=async_client_interceptors()
        ) as channel:
            return await asyncio.wait_for(run(channel), TIMEOUT)
    finally:
        await server.stop(grace=None)


def test_aio_server_records_carry_the_clients_correlation() -> None:
    """grpc.aio: the handler runs in the client's correlation."""

    async def call(channel: aio.Channel) -> tuple[str, bytes]:
        with Correlation.new_correlation() as client_id, Request.request_context(request_id="r"):
            return client_id, await channel.unary_unary(SAY)(b"hi")

    with capture_logs() as records:
        client_id, reply = asyncio.run(_with_aio_server(call))
    assert reply == b"echo:hi"
    [handling] = _by(records, "tests.grpc.handler")
    assert handling["correlation_id"] == client_id
    assert handling["request_id"] == "r"
    server = _by(records, "flext_logging.grpc.server")
    assert [(r["message"], r.get("rpc_code")) for r in server] == [
        ("rpc_started", None),
        ("rpc_finished", "OK"),
    ]
    client = _by(records, "flext_logging.grpc.client")
    assert [(r["message"], r["correlation_id"]) for r in client] == [
        ("rpc_started", client_id),
        ("rpc_finished", client_id),
    ]


def test_aio_failures_are_logged_with_their_codes() -> None:
    """grpc.aio: an abort and a crash end in rpc_failed with NOT_FOUND and UNKNOWN."""

    async def call(channel: aio.Channel) -> list[grpc.StatusCode]:
        codes = []
        for payload in (b"missing", b"crash"):
            with pytest.raises(aio.AioRpcError) as raised:
                await channel.unary_unary(SAY)(payload)
            codes.append(raised.value.code())
        return codes

    with capture_logs() as records:
        codes = asyncio.run(_with_aio_server(call))
    assert codes == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNKNOWN]
    server = _by(records, "flext_logging.grpc.server", "rpc_failed")
    assert [(r["rpc_code"], r["level"]) for r in server] == [
        ("NOT_FOUND", "error"),
        ("UNKNOWN", "error"),
    ]
    assert server[1]["error"]["type"] == "RuntimeError"
    client = _by(records, "flext_logging.grpc.client", "rpc_failed")
    assert [r["rpc_code"] for r in client] == ["NOT_FOUND", "UNKNOWN"]


def test_aio_streaming_call_is_logged_in_the_callers_correlation() -> None:
    """grpc.aio: server-stream chunks carry the caller's correlation as parent."""

    async def call(channel: aio.Channel) -> tuple[str, list[bytes]]:
        with Correlation.new_correlation() as client_id:
            chunks = [chunk async for chunk in channel.unary_stream(COUNT)(b"")]
            deadline = time.monotonic() + TIMEOUT
            while not _by(records, "flext_logging.grpc.client", "rpc_finished"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            return client_id, chunks

    with capture_logs() as records:
        client_id, chunks = asyncio.run(_with_aio_server(call))
    assert chunks == [b"0", b"1", b"2"]
    handled = _by(records, "tests.grpc.handler", "chunk")
    assert {r["correlation_id"] for r in handled} == {client_id}
    [finished] = _by(records, "flext_logging.grpc.client", "rpc_finished")
    assert (finished["correlation_id"], finished["rpc_code"]) == (client_id, "OK")


def test_grpc_example_links_the_servers_lines_to_the_client() -> None:
    """examples/grpc_service.py: the handler's lines carry the client's correlation."""
    completed = run_python(str(EXAMPLES / "grpc_service.py"), timeout=60)
    assert completed.returncode == 0, completed.stderr
    records = [json.loads(line) for line in completed.stdout.splitlines()]
    client_id = records[0]["correlation_id"]
    reserving = [r for r in records if r["message"] == "reserving"]
    assert [r["sku"] for r in reserving] == ["sku-1", "unknown"]
    assert {r["correlation_id"] for r in reserving} == {client_id}
    failed = [r for r in records if r["message"] == "rpc_failed"]
    assert [(r["logger"], r["rpc_code"]) for r in failed] == [
        ("flext_logging.grpc.server", "NOT_FOUND"),
        ("flext_logging.grpc.client", "NOT_FOUND"),
    ]


def test_missing_grpc_fails_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra, importing the integration names the pip command to run."""
    monkeypatch.setitem(sys.modules, "grpc", None)
    monkeypatch.delitem(sys.modules, "flext_logging.integrations.grpc")
    with pytest.raises(ImportError, match=r"pip install 'flext-logging\[grpc\]'"):
        importlib.import_module("flext_logging.integrations.grpc")


def test_aio_streaming_requests_carry_the_context_too() -> None:
    """grpc.aio: stream-unary and stream-stream calls are adopted and logged."""

    async def call(channel: aio.Channel) -> tuple[str, bytes, list[bytes]]:
        with Correlation.new_correlation() as client_id:
            joined = await channel.stream_unary("/test.Echo/Join")(iter([b"a", b"b"]))
            chat = channel.stream_stream("/test.Echo/Chat")(iter([b"x", b"y"]))
            chatted = [response async for response in chat]
            return client_id, joined, chatted

    with capture_logs() as records:
        client_id, joined, chatted = asyncio.run(_with_aio_server(call))
    assert (joined, chatted) == (b"ab", [b"x", b"y"])
    handled = _by(records, "tests.grpc.handler")
    assert [r["message"] for r in handled] == ["joining", "chatting", "chatting"]
    assert {r["correlation_id"] for r in handled} == {client_id}
    finished = _by(records, "flext_logging.grpc.server", "rpc_finished")
    assert [r["rpc_method"] for r in finished] == ["/test.Echo/Join", "/test.Echo/Chat"]


def test_aio_call_the_caller_abandons_is_logged_as_cancelled() -> None:
    """grpc.aio: a call cancelled by the caller's timeout ends in CANCELLED on both sides."""

    async def call(channel: aio.Channel) -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(channel.unary_unary("/test.Echo/Slow")(b""), 0.3)
        deadline = time.monotonic() + TIMEOUT
        while not _by(records, "flext_logging.grpc.server", "rpc_failed"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

    with capture_logs() as records:
        asyncio.run(_with_aio_server(call))
    for logger in ("flext_logging.grpc.client", "flext_logging.grpc.server"):
        [failed] = _by(records, logger, "rpc_failed")
        assert failed["rpc_code"] == "CANCELLED"
        assert "error" not in failed
