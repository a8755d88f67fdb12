"""Log the same requests once, into one file per schema: ``python preset_workload.py DIR``.

``examples/two_services.py`` serves one order through two real services (Flask calling
FastAPI, each behind our middleware, over real HTTP), then a job runs in a child
correlation with a span, a timed operation and a FlextExceptions error. Every record
goes to five outputs at once: ``DIR/flat.log`` and one file per schema preset
(``DIR/ecs.log``, ...), so the files hold the same records under five sets of names.
The ids to trace are printed as JSON on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from flext_logging import FlextContext, FlextExceptions, configure, get_logger, keys, presets
from flext_logging.outputs import FileOutput

ROOT = Path(__file__).resolve().parents[2]
GCP_PROJECT = "shop-prod"
WAIT_S = 10.0


def _outputs(directory: Path) -> list[FileOutput]:
    return [FileOutput(directory / f"{schema}.log", schema=schema) for schema in presets.SCHEMAS]


def _job(logger: Any) -> dict[str, str]:
    """A request whose queued job fails in a child correlation."""
    ids: dict[str, str] = {}
    with (
        FlextContext.Correlation.new_correlation() as root,
        FlextContext.Request.request_context(request_id="req-42", user_id="u-7"),
    ):
        ids["job_root"] = root
        logger.info("order received", items=3)
        with FlextContext.Performance.timed_operation("reserve_stock"):
            logger.info("stock reserved", skus=["a-1", "b-2"])
        with FlextContext.Correlation.new_correlation() as child:
            ids["job_child"] = child
            with FlextContext.Trace.span() as span:
                ids["job_trace"] = span.trace_id
                logger.warning("card check is slow", elapsed_ms=812.5)
                try:
                    with FlextContext.Performance.timed_operation("charge_card"):
                        raise FlextExceptions("card declined", resource_id="card-1")
                except FlextExceptions.BaseError:
                    logger.exception("payment failed")
        logger.info("order placed", total={"amount": 12.5, "currency": "EUR"})
    return ids


def _wait_for_the_servers(directory: Path) -> None:
    """Wait until both servers wrote their request_finished to every file: a server
    thread writes it just after its answer went out, maybe after main() returned."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        texts = [(directory / f"{schema}.log").read_text() for schema in presets.SCHEMAS]
        counts = {text.count("\n") for text in texts}
        if texts[0].count(f'"{keys.EVENT_REQUEST_FINISHED}"') == 2 and len(counts) == 1:
            return
        time.sleep(0.05)
    raise SystemExit("the two services did not finish their requests in time")


def main() -> None:
    """Run both workloads with five outputs; print the ids."""
    directory = Path(sys.argv[1])
    sys.path.insert(0, str(ROOT / "examples"))
    import two_services  # an example, found on the path set just above

    def configure_all(**options: Any) -> None:
        configure(**options, outputs=_outputs(directory), gcp_project=GCP_PROJECT)

    two_services.configure = configure_all  # type: ignore[attr-defined]  # its main() calls it
    two_services.main()
    _wait_for_the_servers(directory)
    first = json.loads((directory / "flat.log").read_text().splitlines()[0])
    ids = {"order_trace": first[keys.TRACE_ID], "order_correlation": first[keys.CORRELATION_ID]}
    ids.update(_job(get_logger("shop.jobs")))
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
