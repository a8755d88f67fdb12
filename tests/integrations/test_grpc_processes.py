"""gRPC with the server in its own process (tests/integrations/grpc_server.py), logging
JSON lines as a configured service does, and a real client in this one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scripts import ROOT, clean_environment

grpc = pytest.importorskip("grpc", reason="the grpc extra (grpcio) is not installed")

from flext_logging import FlextContext, keys  # noqa: E402
from flext_logging.cli.tree import Node, build_tree  # noqa: E402
from flext_logging.integrations.grpc import ClientInterceptor  # noqa: E402
from flext_logging.testing import capture_logs  # noqa: E402

SERVER_SCRIPT = Path(__file__).with_name("grpc_server.py")
SAY = "/test.Echo/Say"
COUNT = "/test.Echo/Count"
TIMEOUT = 20.0
Records = list[dict[str, Any]]


class ServerProcess:
    """The server process: its target, and its log once it has stopped."""

    def __init__(self, process: subprocess.Popen[bytes], target: str, log: Path) -> None:
        self.process = process
        self.target = target
        self._log = log

    def stop(self) -> None:
        """Close its stdin, which stops it; wait for it (killed by pid if it hangs)."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=TIMEOUT)

    def records(self) -> Records:
        """Stop the server and return every line it logged, parsed."""
        self.stop()
        return [json.loads(line) for line in self._log.read_text().splitlines()]


@pytest.fixture(params=["sync", "aio"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A grpc.server (or grpc.aio server) in a child process on a free loopback port."""
    port_file, log = tmp_path / "port", tmp_path / "server.log"
    with log.open("wb") as stdout, (tmp_path / "server.err").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), request.param, str(port_file)],
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            cwd=ROOT,
            env=clean_environment(),
        )
    served = ServerProcess(process, "", log)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (port_file.exists() and port_file.read_text().isdigit()):
            assert process.poll() is None, (tmp_path / "server.err").read_text()
            assert time.monotonic() < deadline, "the server process did not start"
            time.sleep(0.05)
        served.target = f"127.0.0.1:{port_file.read_text()}"
        yield served
    finally:
        served.stop()


def _by(records: Records, message: str) -> Records:
    return [r for r in records if r["message"] == message]


def _echoed(metadata: Any) -> dict[str, str]:
    return {name: value for name, value in metadata or () if name.startswith("x-")}


def test_ids_are_echoed_in_trailing_metadata_also_on_errors(server: ServerProcess) -> None:
    """x-request-id and x-correlation-id come back on success, abort and crash alike,
    beside the trailing metadata the handler set itself."""
    with grpc.insecure_channel(server.target) as raw:
        say = grpc.intercept_channel(raw, ClientInterceptor()).unary_unary(SAY)
        with (
            FlextContext.Correlation.new_correlation() as correlation_id,
            FlextContext.Request.request_context(request_id="req-1"),
        ):
            _, call = say.with_call(b"hi", timeout=TIMEOUT)
            echoed = [_echoed(call.trailing_metadata())]
            for payload in (b"missing", b"crash"):
                with pytest.raises(grpc.RpcError) as raised:
                    say(payload, timeout=TIMEOUT)
                echoed.append(_echoed(raised.value.trailing_metadata()))
            _, own = say.with_call(b"own-metadata", timeout=TIMEOUT)
    ids = {"x-request-id": "req-1", "x-correlation-id": correlation_id}
    assert echoed == [ids, ids, ids]
    assert _echoed(own.trailing_metadata()) == {**ids, "x-handler": "kept"}


def test_call_without_metadata_gets_a_request_id_and_a_root_span(server: ServerProcess) -> None:
    """Like an HTTP request without headers: generated ids, echoed, and a new trace."""
    with grpc.insecure_channel(server.target) as raw:
        _, call = raw.unary_unary(SAY).with_call(b"bare", timeout=TIMEOUT)
    echoed = _echoed(call.trailing_metadata())
    records = server.records()
    [handling] = _by(records, "handling")
    assert handling[keys.REQUEST_ID] == echoed["x-request-id"]
    assert handling[keys.CORRELATION_ID] == echoed["x-correlation-id"]
    assert len(handling[keys.TRACE_ID]) == 32
    started, finished = [r for r in records if r["logger"] == "flext_logging.grpc.server"]
    assert started[keys.SPAN_ID] == handling[keys.SPAN_ID] == finished[keys.SPAN_ID]
    assert keys.PARENT_SPAN_ID not in started  # the root of its trace


def test_handler_crash_is_one_record_with_context(server: ServerProcess) -> None:
    """A crashing handler (unary or streaming) writes one rpc_failed with the caller's
    context and the error, and gRPC's own context-less traceback is not logged."""
    with grpc.insecure_channel(server.target) as raw:
        channel = grpc.intercept_channel(raw, ClientInterceptor())
        with (
            FlextContext.Correlation.new_correlation() as correlation_id,
            FlextContext.Request.request_context(request_id="req-crash"),
            FlextContext.Trace.span() as span,
        ):
            with pytest.raises(grpc.RpcError) as unary:
                channel.unary_unary(SAY)(b"crash", timeout=TIMEOUT)
            with pytest.raises(grpc.RpcError) as streamed:
                list(channel.unary_stream(COUNT)(b"crash", timeout=TIMEOUT))
    assert (unary.value.code(), streamed.value.code()) == (grpc.StatusCode.UNKNOWN,) * 2
    assert "handler crashed" in (unary.value.details() or "")
    records = server.records()
    assert not [r for r in records if r["logger"].startswith("grpc")]
    errors = [r for r in records if r["level"] in ("error", "critical")]
    assert [(r["message"], r[keys.RPC_METHOD]) for r in errors] == [
        ("rpc_failed", SAY),
        ("rpc_failed", COUNT),
    ]
    for failed, text in zip(errors, ("handler crashed", "stream crashed"), strict=True):
        assert failed[keys.CORRELATION_ID] == correlation_id
        assert failed[keys.REQUEST_ID] == "req-crash"
        assert failed[keys.TRACE_ID] == span.trace_id
        assert failed[keys.RPC_CODE] == "UNKNOWN"
        assert (failed["error"]["type"], failed["error"]["message"]) == ("RuntimeError", text)


def _node_with(tree: Node, record: dict[str, Any]) -> Node:
    return next(node for node in tree.walk() if record in node.records)


def test_client_and_server_records_name_their_side_and_nest_in_the_tree(
    server: ServerProcess,
) -> None:
    """rpc_side tells the two ends apart; the server's span hangs below the client's."""
    with (
        capture_logs() as client_records,
        grpc.insecure_channel(server.target) as raw,
        FlextContext.Correlation.new_correlation() as correlation_id,
        FlextContext.Trace.span() as span,
    ):
        grpc.intercept_channel(raw, ClientInterceptor()).unary_unary(SAY)(b"hi", timeout=TIMEOUT)
    server_records = server.records()
    client = [r for r in client_records if r["logger"] == "flext_logging.grpc.client"]
    served = [r for r in server_records if r["logger"] == "flext_logging.grpc.server"]
    assert [(r["message"], r[keys.RPC_SIDE]) for r in client] == [
        ("rpc_started", "client"),
        ("rpc_finished", "client"),
    ]
    assert [(r["message"], r[keys.RPC_SIDE]) for r in served] == [
        ("rpc_started", "server"),
        ("rpc_finished", "server"),
    ]
    assert served[0][keys.PARENT_SPAN_ID] == span.span_id
    records = [json.loads(json.dumps(r, default=str)) for r in client_records] + server_records
    tree = build_tree(records, correlation_id, "correlation")
    client_node = _node_with(tree, next(r for r in records if r.get(keys.RPC_SIDE) == "client"))
    server_node = _node_with(tree, served[0])
    assert server_node in client_node.children
