"""Log shippers and stores run as foreground user processes on 127.0.0.1, for the tests.

Each is started from a temporary copy of its configuration, with free ports and
temporary directories, waited for until it accepts connections, and stopped by its pid.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
RSYSLOG_ROOT = Path(os.environ.get("FLEXT_RSYSLOG_ROOT", "/opt/flext-rsyslog"))
"""Where .ci/run unpacks Debian's rsyslog (it conflicts with syslog-ng-core in apt)."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts(port: int) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:*port*."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll *condition* until it holds; fail saying *what* did not happen in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


@contextlib.contextmanager
def running(
    command: list[str], port: int, log: Path, name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Run *command* until the block ends; wait until it listens on *port* first."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:

        def up() -> bool:
            if process.poll() is not None:
                pytest.fail(f"{name} exited at start-up:\n{log.read_text(errors='replace')}")
            return accepts(port)

        wait_until(up, START_TIMEOUT, f"{name} accepting connections on port {port}")
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop *process* by its pid: SIGTERM, then SIGKILL if it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def syslog_ng_binary() -> str:
    """Return syslog-ng's path, or skip: Debian's syslog-ng-core, which .ci/run installs."""
    found = shutil.which("syslog-ng") or shutil.which("syslog-ng", path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip("syslog-ng is not installed (apt-get install syslog-ng-core; .ci/run does)")
    return found


def rsyslog_binary() -> tuple[str, list[str]]:
    """Return rsyslogd and the arguments naming its module directory, or skip.

    Debian's rsyslog cannot be installed beside syslog-ng-core, so .ci/run unpacks it
    (apt-get download + dpkg -x) into RSYSLOG_ROOT; an installed one works as well.
    """
    unpacked = RSYSLOG_ROOT / "usr" / "sbin" / "rsyslogd"
    if unpacked.exists():
        modules = sorted(glob.glob(str(RSYSLOG_ROOT / "usr" / "lib" / "*" / "rsyslog")))
        return str(unpacked), ["-M", modules[0]] if modules else []
    found = shutil.which("rsyslogd") or shutil.which("rsyslogd", path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(
            f"rsyslog is not installed nor unpacked in {RSYSLOG_ROOT} "
            "(apt-get download rsyslog && dpkg -x rsyslog_*.deb; .ci/run does)"
        )
    return found, []


def complete_lines(path: Path) -> list[str]:
    """The lines of *path* written so far that end with a newline (none if no file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return data.decode("utf-8").split("\n")[: data.count(b"\n")]
