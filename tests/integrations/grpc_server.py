"""A gRPC server process for tests/integrations/test_grpc_processes.py.

``python grpc_server.py sync|aio PORT_FILE`` serves ``/test.Echo/*`` on a free loopback
port with flext-logging's server interceptor, logging JSON lines on stdout as a
service configured with ``configure()`` does. It writes the port to PORT_FILE, and
stops when its stdin is closed (or after a minute, whatever happens).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from flext_logging import configure, get_logger
from flext_logging.integrations.grpc import AsyncServerInterceptor, ServerInterceptor

LIFETIME_S = 60.0
logger = get_logger("tests.grpc.server_process")


def _say(request: bytes, context: grpc.ServicerContext) -> bytes:
    logger.info("handling", payload=request.decode())
    if request == b"missing":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
    if request == b"crash":
        raise RuntimeError("handler crashed")
    if request == b"own-metadata":
        context.set_trailing_metadata((("x-handler", "kept"),))
    return b"echo:" + request


def _count(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for number in range(2):
        logger.info("chunk", number=number)
        yield str(number).encode()
    if request == b"crash":
        raise RuntimeError("stream crashed")


async def _say_async(request: bytes, context: Any) -> bytes:
    logger.info("handling", payload=request.decode())
    if request == b"missing":
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
    if request == b"crash":
        raise RuntimeError("handler crashed")
    if request == b"own-metadata":
        context.set_trailing_metadata((("x-handler", "kept"),))
    return b"echo:" + request


async def _count_async(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for number in range(2):
        logger.info("chunk", number=number)
        yield str(number).encode()
    if request == b"crash":
        raise RuntimeError("stream crashed")


def _handlers(say: Any, count: Any) -> Any:
    return grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Say": grpc.unary_unary_rpc_method_handler(say),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        },
    )


def _stdin_closed() -> threading.Event:
    closed = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=watch, daemon=True).start()
    return closed


def serve_sync(port_file: Path) -> None:
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=[ServerInterceptor()])
    server.add_generic_rpc_handlers((_handlers(_say, _count),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    port_file.write_text(str(port))
    _stdin_closed().wait(LIFETIME_S)
    server.stop(grace=None).wait(10)


async def serve_aio(port_file: Path) -> None:
    server = aio.server(interceptors=[AsyncServerInterceptor()])
    server.add_generic_rpc_handlers((_handlers(_say_async, _count_async),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    port_file.write_text(str(port))
    closed = _stdin_closed()
    await asyncio.get_running_loop().run_in_executor(None, closed.wait, LIFETIME_S)
    await server.stop(grace=None)


def main() -> None:
    kind, port_file = sys.argv[1], Path(sys.argv[2])
    configure(format="json", service_name="inventory")
    if kind == "aio":
        asyncio.run(serve_aio(port_file))
    else:
        serve_sync(port_file)


if __name__ == "__main__":
    main()
