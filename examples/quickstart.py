"""What ``make quickstart`` runs: one small workload, logged as JSON lines, then on the console.

Run it with ``.venv/bin/python examples/quickstart.py``. The workload places an order:
it logs inside a correlation and a request context, times an operation, calls another
service under a child correlation (whose client library uses the standard ``logging``
module) and logs a FlextExceptions error it caught.
"""

from __future__ import annotations

import logging
import time

from flext_logging import FlextContext, FlextExceptions, configure, get_logger

logger = get_logger("shop.checkout")
# A library that knows nothing about flext-logging: configure() routes it through too.
payments = logging.getLogger("payments.client")


def place_order(order_id: str, user_id: str) -> None:
    """Handle one order, logging each step."""
    with (
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(
            user_id=user_id, request_id=f"req-{order_id}", operation_name="place_order"
        ),
    ):
        logger.info("order received", order_id=order_id, items=3)
        with FlextContext.Performance.timed_operation("reserve_stock"):
            FlextContext.Performance.add_operation_metadata("warehouse", "eu-west-1")
            time.sleep(0.01)
        # The payment provider is another service: its work gets a child correlation.
        with FlextContext.Correlation.new_correlation():
            payments.warning("provider slow, retry %d of %d", 1, 3)
        try:
            raise FlextExceptions(
                "coupon not found", resource_id="SPRING24", resource_type="coupon"
            )
        except FlextExceptions.NotFoundError:
            logger.exception("coupon rejected", coupon="SPRING24")
        logger.info("order placed", order_id=order_id, total_cents=4200)


def main() -> None:
    """Run the workload twice: as JSON lines, then rendered for people."""
    print("== JSON lines: configure(format='json') ==\n", flush=True)
    configure(format="json", service_name="shop", service_version="0.1.0")
    place_order("1001", "u-42")

    print("\n== Console: configure(format='console') ==\n", flush=True)
    configure(format="console", service_name="shop", service_version="0.1.0")
    place_order("1002", "u-42")


if __name__ == "__main__":
    main()
