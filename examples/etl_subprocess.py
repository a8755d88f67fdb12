"""An ETL job spawns its taps as child processes; their lines link back to the job.

The job passes ``FlextContext.Serialization.to_env()`` to each child. A child that
calls ``configure()`` adopts the ``FLEXT_*`` variables: its correlation is a new child
of the job's, and it keeps the job's request id (the run id). The job runs in a W3C
span, passed as ``TRACEPARENT``: each tap runs in a span of its own in the same trace,
so ``flext-logging trace TRACE_ID`` finds the whole run. The taps name
themselves with ``configure(service_name=..., service_version=...)``; without that
they would log as the job (its name and version travel as ``FLEXT_SERVICE_*``).
Run it with ``.venv/bin/python examples/etl_subprocess.py``: it prints JSON lines from
the job and from both taps.
"""

from __future__ import annotations

import os
import subprocess
import sys

from flext_logging import FlextContext, configure, get_logger

TAPS = ("tap-postgres", "tap-salesforce")


def run_tap(name: str) -> None:
    """The child process: configure() picks up the job's context from the environment."""
    configure(service_name=name, service_version="0.9.2", format="json")
    logger = get_logger("etl.tap")
    logger.info("tap started")
    with FlextContext.Performance.timed_operation("sync_stream"):
        logger.info("records synced", stream="accounts", count=120)


def run_job() -> None:
    """The parent process: one correlation for the run, one child per tap."""
    configure(service_name="etl-job", service_version="1.4.0", format="json")
    logger = get_logger("etl.job")
    with (
        FlextContext.Correlation.new_correlation(),
        FlextContext.Request.request_context(request_id="run-2026-11-23"),
        FlextContext.Trace.span(),  # one W3C trace for the run: the taps join it
    ):
        logger.info("job started", taps=len(TAPS))
        for tap in TAPS:
            environment = {**os.environ, **FlextContext.Serialization.to_env()}
            subprocess.run(
                [sys.executable, __file__, "tap", tap], env=environment, check=True, timeout=60
            )
        logger.info("job finished")


if __name__ == "__main__":
    if sys.argv[1:2] == ["tap"]:
        run_tap(sys.argv[2])
    else:
        run_job()
