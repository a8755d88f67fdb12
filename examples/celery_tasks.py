"""Celery tasks that log in the correlation of the code that queued them.

``install(app)`` is all the integration needs. The example runs a worker thread on
Celery's in-memory broker so it needs no server; with a real broker the same module
serves ``celery -A examples.celery_tasks worker`` (set ``broker`` to your redis URL).
Needs the ``celery`` extra (``pip install 'flext-logging[celery]'``). Run it with
``.venv/bin/python examples/celery_tasks.py``: it prints JSON lines.
"""

from __future__ import annotations

import time

from celery import Celery, signals
from celery.contrib.testing.worker import start_worker

from flext_logging import FlextContext, configure, get_logger
from flext_logging.integrations.celery import install

app = Celery("billing", broker="memory://localhost/", set_as_current=False)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
)
install(app)
logger = get_logger("billing.tasks")


@signals.setup_logging.connect
def configure_logging(**_: object) -> None:
    """Let flext-logging own logging in the worker: Celery then leaves it alone."""
    configure(service_name="billing", format="json")


done: list[str] = []


@app.task(name="billing.send_invoice")
def send_invoice(invoice_id: str) -> None:
    """Runs in the worker: its lines carry the publisher's request id and correlation."""
    logger.info("invoice sent", invoice_id=invoice_id)
    done.append(invoice_id)


def main() -> None:
    """Start a worker thread (which configures logging), queue two invoices, wait for them."""
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        with (
            FlextContext.Correlation.new_correlation(),
            FlextContext.Request.request_context(request_id="req-7f3a"),
        ):
            logger.info("invoices queued", count=2)
            send_invoice.delay("INV-1")
            send_invoice.delay("INV-2")
        deadline = time.monotonic() + 10
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)


if __name__ == "__main__":
    main()
