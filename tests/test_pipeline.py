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
