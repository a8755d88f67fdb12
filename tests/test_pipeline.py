"""The record path: the direct path (no user processors) writes what the long way writes.

Without ``processors=`` (and before OpenTelemetry is imported) a record is built,
redacted, rendered and written by one function; with them, every record takes the long
way (built whole, the steps run, redaction last). The same calls must give the same
lines either way, secrets redacted alike. The test suite itself imports OpenTelemetry,
so each way runs in a child process of its own, as an application runs it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripts import run_python

# Calls of every kind a record path meets: plain and repeated records, bound and scope
# fields, context ids, secrets in names, shapes and containers, non-ASCII text, a record
# over the size cap, fields named like head and context keys, exceptions, structlog's
# contextvars, and `logging` records with extra= fields.
WORKLOAD = r"""
import dataclasses, logging, sys
import structlog
from flext_logging import FlextContext, configure, get_logger

way = sys.argv[1]
options = {"processors": [lambda logger, method, event_dict: event_dict]} if way == "long" else {}
configure(format="json", stream=open(sys.argv[2], "a", encoding="utf-8"),
          service_name="orders", max_record_bytes=4096, **options)

@dataclasses.dataclass
class Creds:
    user: str
    password: str

log = get_logger("app.orders")
for _ in range(3):
    log.info("order placed", order_id=7, plan="pro")
log.bind(tenant="t-1", api_key="k-123456789").warning("bound fields", n=1)
with FlextContext.Request.request_context(request_id="req-1", user_id="u-1"):
    with FlextContext.bound(region="eu", session_token="s-abcdefgh"):
        log.info("in a scope", note="paid by card 4111 1111 1111 1111")
        log.info("Authorization: Bearer abc123def456ghi789 sent", attempt=2)
        log.info("containers", tags={"a", "b"}, raw=b"secret=hunter2", creds=Creds("ann", "pw1"),
                 nested={"deep": [{"password": "x"}], "ok": 1})
        log.info("caf\u00e9 \u2028 line separator", text="\u00fcber")
        log.info("too long", blob="x" * 10_000)
        log.info("named like the head", level="custom", logger="other", user_id="u-2")
        try:
            raise ValueError("bad value token=abc123def456")
        except ValueError:
            log.exception("failed", order_id=8)
        structlog.contextvars.bind_contextvars(request_tag="rt-1")
        log.info("with structlog's contextvars")
        structlog.contextvars.clear_contextvars()
        lib = logging.getLogger("lib.db")
        lib.info("connected to %s", "db-1", extra={"pool": 3, "password": "p"})
        lib.warning("slow query", extra={"ms": 12.5})
        try:
            1 / 0
        except ZeroDivisionError:
            lib.exception("division")
log.error("outside any scope", code="E1")
"""


def _lines(tmp_path: Path, way: str) -> list[dict[str, Any]]:
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD, encoding="utf-8")
    log = tmp_path / f"{way}.log"
    done = run_python(str(script), way, str(log))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    for record in records:  # what differs from run to run
        record.pop("timestamp")
        record.pop("process_id")
        record.pop("correlation_id", None)
        record.get("error", {}).pop("traceback", None)
    return records


def test_the_direct_path_writes_what_the_long_way_writes(tmp_path: Path) -> None:
    """Every line the same, key order included, with and without user processors."""
    direct, long_way = _lines(tmp_path, "direct"), _lines(tmp_path, "long")
    assert len(direct) == 16
    assert [list(record) for record in direct] == [list(record) for record in long_way]
    assert direct == long_way


@pytest.mark.parametrize(
    "secret",
    [
        "k-123456789",
        "s-abcdefgh",
        "4111 1111 1111 1111",
        "abc123def456ghi789",
        "hunter2",
        "pw1",
        '"password":"x"',
        "abc123def456",
        '"password":"p"',
    ],
)
def test_no_secret_reaches_the_file_on_the_direct_path(tmp_path: Path, secret: str) -> None:
    """The direct path searches the message and the fields it adds: nothing leaks."""
    text = json.dumps(_lines(tmp_path, "direct"), ensure_ascii=False)
    assert secret not in text


HANDLERS_LATER = r"""
import io, logging
from flext_logging import configure, get_logger

configure(format="json", stream=io.StringIO())
log = get_logger("app")
log.info("before any handler")
seen = []

class Keep(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())

keep = Keep()
logging.getLogger().addHandler(keep)
log.info("while a handler is on the root")
logging.getLogger().removeHandler(keep)
log.info("after it left")
logging.getLogger().handlers.append(keep)  # added without addHandler, as some code does
log.info("appended to the list")
print(seen)
"""


def test_root_handlers_added_later_get_the_records_on_the_direct_path(tmp_path: Path) -> None:
    """pytest's caplog, OpenTelemetry's handler, a file handler: added to the root after
    configure(), they get our records while they are there, and only then."""
    script = tmp_path / "later.py"
    script.write_text(HANDLERS_LATER, encoding="utf-8")
    done = run_python(str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['while a handler is on the root', 'appended to the list']"


# The same calls under a schema preset, written once on the direct path and once the
# long way (with a user processor), in one process so that process, correlation and span
# ids are the same: scopes, levels, loggers, names the vendors reserve, refused values.
PRESET_WORKLOAD = r"""
import json, logging, os, sys
from flext_logging import FlextContext, configure, get_logger
from flext_logging.context import scopes

schema, out = sys.argv[1], sys.argv[2]
scopes.new_span_id = lambda: "b" * 16  # the same span ids both ways

def calls():
    log = get_logger("app.orders")
    other = get_logger("app.billing")
    with FlextContext.Serialization.context_from({"correlation_id": "c" * 32}):
        for n in range(3):
            log.info("order placed", order_id=n, plan="pro")
        log.info("no fields")
        log.warning("another level", order_id=1)
        other.info("another logger", order_id=2)
        log.info("other order", plan="pro", order_id=3)
        log.info("more fields", a=1, b=2.5, c=None, d=[1, "x"], e={"k": "v"})
        log.info("named as the vendor reserves", status="x", host="h", timestamp="t",
                 severity="s", labels="l", Body="b", flext="f")
        log.info("too big a number", n=2**70)
        log.info("caf\u00e9 \u2028 line separator", text="\u00fcber")
        log.info("too long", blob="x" * 10_000)
        log.info("a secret", api_key="k-123456789", note="Bearer abc123def456ghi789")
        with FlextContext.Request.request_context(request_id="req-1", user_id="u-1"):
            log.info("in a request", plan="pro")
            with FlextContext.bound(region="eu"):
                log.info("with a bound field", plan="pro")
            log.info("back in the request", plan="pro")
            with FlextContext.Performance.timed_operation("charge"):
                log.info("in an operation", amount=5)
            with FlextContext.Trace.span(trace_id="a" * 32):
                log.info("in a sampled span")
            with FlextContext.Trace.span(trace_id="d" * 32, flags="00"):
                log.info("in a span not sampled", plan="pro")
        logging.getLogger("lib.db").info("from logging", extra={"pool": 3})
        log.error("failed", code="E1")

for way, options in (("direct", {}), ("long", {"processors": [lambda l, m, e: e]})):
    with open(f"{out}.{way}", "w", encoding="utf-8") as stream:
        configure(format="json", stream=stream, service_name="orders", service_version="1.0",
                  schema=schema, gcp_project="proj-1", max_record_bytes=4096, **options)
        calls()
"""

_TIME_NAMES = ("timestamp", "@timestamp", "time", "Timestamp")


def _preset_lines(path: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for record in records:  # the time and durations differ from one way to the other
        for part in (record, *(value for value in record.values() if isinstance(value, dict))):
            for name in [name for name in part if name in _TIME_NAMES or "duration" in name]:
                del part[name]
    return records


@pytest.mark.parametrize("schema", ["ecs", "gcp", "datadog", "otel"])
def test_a_preset_writes_on_the_direct_path_what_the_long_way_writes(
    tmp_path: Path, schema: str
) -> None:
    """Every line the same, key order included: scopes, levels, loggers, field names the
    vendor reserves, values orjson refuses, line separators, the size cap, secrets."""
    script = tmp_path / "presets.py"
    script.write_text(PRESET_WORKLOAD, encoding="utf-8")
    out = tmp_path / schema
    done = run_python(str(script), schema, str(out))
    assert done.returncode == 0, done.stderr
    direct = _preset_lines(Path(f"{out}.direct"))
    long_way = _preset_lines(Path(f"{out}.long"))
    assert len(direct) == 22
    assert [list(record) for record in direct] == [list(record) for record in long_way]
    assert direct == long_way
    text = Path(f"{out}.direct").read_text(encoding="utf-8")
    assert "k-123456789" not in text
    assert "abc123def456ghi789" not in text
    assert "\u2028" not in text


FORKED = r"""
import json, os, sys
from flext_logging import configure, get_logger

configure(format="json", stream=open(sys.argv[2], "a", encoding="utf-8", buffering=1),
          schema=sys.argv[1])
log = get_logger("app")
log.info("in the parent", n=1)
child = os.fork()
if child == 0:
    log.info("in the child", n=2)
    os._exit(0)
os.waitpid(child, 0)
print(child)
"""

_PROCESS_ID = {
    "ecs": ("process.pid",),
    "gcp": ("process_id",),
    "datadog": ("process_id",),
    "otel": ("Resource", "process.pid"),
}


@pytest.mark.parametrize("schema", ["ecs", "gcp", "datadog", "otel"])
def test_a_forked_child_writes_its_own_process_id_under_a_preset(
    tmp_path: Path, schema: str
) -> None:
    """A child forked after the parent logged under a preset writes its own process id
    (whatever a renderer keeps from the parent's records)."""
    script = tmp_path / "forked.py"
    script.write_text(FORKED, encoding="utf-8")
    log = tmp_path / "forked.log"
    done = run_python(str(script), schema, str(log))
    assert done.returncode == 0, done.stderr
    parent, child = (json.loads(line) for line in log.read_text(encoding="utf-8").splitlines())
    path = _PROCESS_ID[schema]

    def pid(record: dict[str, Any]) -> Any:
        for part in path:
            record = record[part]
        return record

    assert pid(child) == int(done.stdout.strip())
    assert pid(parent) != pid(child)
