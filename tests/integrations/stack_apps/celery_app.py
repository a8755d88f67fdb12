"""The Celery worker the stack test runs with ``celery -A celery_app worker``.

As the README has it: ``configure()`` at import and ``install(app)``, no
``setup_logging`` receiver of its own. ``STACK_INSTALL=0`` leaves ``install`` out,
so the worker's logging hijack (root handlers, stdout redirected) happens.
"""

from __future__ import annotations

import logging
import os

from celery import Celery

from flext_logging import configure, get_logger

configure(service_name="stack-worker")

app = Celery("stack", broker=os.environ["STACK_BROKER"])
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)
if os.environ.get("STACK_INSTALL", "1") == "1":
    from flext_logging.integrations.celery import install

    install(app)

logger = get_logger("stack.task")
library = logging.getLogger("stack.library")


@app.task(name="stack.work")
def work(n: int) -> int:
    """Log one record of ours and one of a logging library for task *n*."""
    logger.info("task ran", n=n)
    library.info("library line", extra={"n": n})
    return n
