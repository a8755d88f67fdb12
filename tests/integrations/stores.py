"""Log shippers and log stores run as foreground user processes on 127.0.0.1, for the tests.

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
import urllib.parse
import urllib.request
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


_CLICKHOUSE_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{root}/data/</path>
    <tmp_path>{root}/tmp/</tmp_path>
    <user_files_path>{root}/user_files/</user_files_path>
    <format_schema_path>{root}/format_schemas/</format_schema_path>
    <mark_cache_size>5368709120</mark_cache_size>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
</yandex>
"""
_CLICKHOUSE_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default></default></quotas>
</yandex>
"""


def clickhouse_binary() -> str:
    """Return clickhouse-server's path, or skip: Debian's package, which .ci/run installs."""
    found = shutil.which("clickhouse-server") or shutil.which(
        "clickhouse-server", path="/usr/sbin:/usr/bin"
    )
    if found is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server)")
    return found


class ClickHouse:
    """Debian's clickhouse-server as a user process: a temporary data directory, free
    ports, and a kill and a restart on the same data and ports for fault tests."""

    def __init__(self, root: Path) -> None:
        self.binary = clickhouse_binary()
        self.root = root
        self.http_port = free_port()
        self.tcp_port = free_port()
        config = _CLICKHOUSE_CONFIG.format(
            http_port=self.http_port, tcp_port=self.tcp_port, root=root
        )
        (root / "config.xml").write_text(config, encoding="utf-8")
        (root / "users.xml").write_text(_CLICKHOUSE_USERS, encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The HTTP interface."""
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        """Start the server and wait until it answers /ping."""
        log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, f"--config-file={self.root / 'config.xml'}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        log.close()
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                text = (self.root / "server.log").read_text(errors="replace")
                pytest.fail(f"clickhouse-server exited at start-up:\n{text[-2000:]}")
            return self.ping()

        wait_until(answers, START_TIMEOUT, "clickhouse-server answering /ping")

    def ping(self) -> bool:
        """Tell whether the server answers on its HTTP port."""
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as answer:
                return bool(answer.read() == b"Ok.\n")
        except OSError:
            return False

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would, and wait until it is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            self.process = None

    def stop(self) -> None:
        """Stop the server by its pid."""
        if self.process is not None:
            stop(self.process)
            self.process = None

    def query(self, sql: str, **settings: str) -> str:
        """Run *sql* over HTTP with *settings*; return the answer as text (raise on an error)."""
        url = f"{self.url}/?{urllib.parse.urlencode(settings)}"
        request = urllib.request.Request(url, data=sql.encode("utf-8"), method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return str(answer.read().decode("utf-8"))


@contextlib.contextmanager
def clickhouse(root: Path) -> Iterator[ClickHouse]:
    """A running clickhouse-server for the block, stopped by its pid after it."""
    server = ClickHouse(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
