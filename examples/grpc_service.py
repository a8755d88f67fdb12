"""A gRPC server and client in one process: the server's lines link to the client's.

The server has ``ServerInterceptor``, the client channel ``ClientInterceptor``; no
generated code is needed (a generic handler with raw bytes). Every line the handler
writes carries the client's correlation id and request id, as an HTTP service's
would; both sides log ``rpc_started`` and ``rpc_finished``/``rpc_failed``.
Needs the ``grpc`` extra (``pip install 'flext-logging[grpc]'``). Run it with
``.venv/bin/python examples/grpc_service.py``: it prints JSON lines.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from flext_logging import FlextContext, configure, get_logger
from flext_logging.integrations.grpc import ClientInterceptor, ServerInterceptor

logger = get_logger("inventory")


def reserve(request: bytes, context: grpc.ServicerContext) -> bytes:
    """The handler: logs in the caller's correlation tree; unknown items are NOT_FOUND."""
    logger.info("reserving", sku=request.decode())
    if request == b"unknown":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such sku")
    return b"reserved"


def main() -> None:
    """Serve on a free loopback port, call it twice, stop."""
    configure(service_name="inventory", format="json")
    server = grpc.server(ThreadPoolExecutor(max_workers=2), interceptors=[ServerInterceptor()])
    handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
        "Reserve": grpc.unary_unary_rpc_method_handler(reserve)
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("inventory.Stock", handlers),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
            channel = grpc.intercept_channel(plain, ClientInterceptor())
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                "/inventory.Stock/Reserve"
            )
            with (
                FlextContext.Correlation.new_correlation(),
                FlextContext.Request.request_context(request_id="req-7f3a"),
            ):
                call(b"sku-1", timeout=10)
                try:
                    call(b"unknown", timeout=10)
                except grpc.RpcError as error:
                    logger.warning("reservation refused", code=error.code().name)
    finally:
        server.stop(grace=None).wait(timeout=10)


if __name__ == "__main__":
    main()
