"""A web handler queues work; a worker thread handles it in the handler's correlation tree.

The handler puts ``FlextContext.Serialization.inject(message)`` on the queue (here a
``queue.Queue`` and JSON text, as a broker would carry it); the worker handles each
message inside ``extracted(message)``: a new correlation whose parent is the
handler's, with the same request id. The worker sends receipts through a
``ContextThreadPoolExecutor``, whose tasks keep the worker's context.
Run it with ``.venv/bin/python examples/worker_queue.py``: it prints JSON lines.
"""

from __future__ import annotations

import json
import queue
import threading

from flext_logging import ContextThreadPoolExecutor, FlextContext, configure, get_logger

logger = get_logger("shop.orders")
STOP = "stop"


def handle_request(outbox: queue.Queue[str], order_id: str, request_id: str) -> None:
    """The web side: log, then queue the order with the request's context attached."""
    with (
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(request_id=request_id, user_id="u-1042"),
    ):
        logger.info("order accepted", order_id=order_id)
        outbox.put(json.dumps(FlextContext.Serialization.inject({"order_id": order_id})))


def send_receipt(order_id: str) -> None:
    """Runs on a pool thread, still in the message's correlation."""
    logger.info("receipt sent", order_id=order_id)


def work(inbox: queue.Queue[str]) -> None:
    """The worker side: every message in its own child correlation."""
    with ContextThreadPoolExecutor(max_workers=2) as receipts:
        while (text := inbox.get(timeout=10)) != STOP:
            message = json.loads(text)
            with FlextContext.Serialization.extracted(message):
                logger.info("order shipped", order_id=message["order_id"])
                receipts.submit(send_receipt, message["order_id"]).result(timeout=10)


def main() -> None:
    """Two requests, one worker thread, one JSON line per event."""
    configure(service_name="shop", format="json")
    messages: queue.Queue[str] = queue.Queue()
    worker = threading.Thread(target=work, args=(messages,))
    worker.start()
    handle_request(messages, "o-1", "req-1")
    handle_request(messages, "o-2", "req-2")
    messages.put(STOP)
    worker.join(timeout=10)


if __name__ == "__main__":
    main()
