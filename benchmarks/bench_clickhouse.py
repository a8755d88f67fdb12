"""Load ~1M records into ClickHouse with ClickHouseOutput; time a trace look-up there and
in the file (``make bench-clickhouse``, not part of ``make test``).

Debian's clickhouse-server is started as a user process on a free port with a temporary
data directory (or ``--url`` names a running server). The records are the multi-service
log of ``benchmarks/generate_logs.py``; each line is rendered as a row and handed to
``ClickHouseOutput``, and ingest is timed from the first row to the last acknowledged
one. Then the planted request tree (a root correlation and the worker's child
correlation) is looked up: in ClickHouse by ``flext-logging trace --source
clickhouse://`` (in this process, and as a command), and in the file by
``flext-logging trace`` and by ``grep -F``; the two trees must be equal. Medians of
``--repeats`` runs; the report goes to stdout and ``benchmarks/clickhouse_results.json``.

    python benchmarks/bench_clickhouse.py --records 1000000
    python benchmarks/bench_clickhouse.py --records 20000 --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from generate_logs import MB, generate

from flext_logging.cli.clickhouse import ClickHouseSource
from flext_logging.cli.reading import Reader
from flext_logging.cli.tree import collect_from
from flext_logging.outputs.clickhouse import ClickHouseOutput, ddl

TABLE = "flext_bench.records"
CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>{port}</http_port>
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
USERS = """<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def clickhouse_server(root: Path) -> Iterator[str]:
    """Debian's clickhouse-server on free ports under *root*; yields its URL."""
    binary = shutil.which("clickhouse-server") or "/usr/bin/clickhouse-server"
    port = _free_port()
    (root / "config.xml").write_text(CONFIG.format(port=port, tcp_port=_free_port(), root=root))
    (root / "users.xml").write_text(USERS)
    with (root / "server.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - Debian's server, our own config file
            [binary, f"--config-file={root / 'config.xml'}"], stdout=log, stderr=log, cwd=root
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _pings(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"clickhouse-server did not start: see {root / 'server.log'}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _pings(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=1) as answer:  # noqa: S310 - http only
            return bool(answer.read() == b"Ok.\n")
    except OSError:
        return False


def query(url: str, sql: str) -> str:
    """Run *sql* over HTTP; the answer as text."""
    request = urllib.request.Request(url + "/", data=sql.encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310 - http only
        return str(answer.read().decode())


def make_log(path: Path, records: int) -> tuple[str, int]:
    """Write about *records* lines of the generated log; return the planted id and lines."""
    sample = path.with_suffix(".sample")
    _, _, size, lines = generate(sample, size_mb=8)  # large enough that the fan-out is noise
    sample.unlink()
    planted, _, _, written = generate(path, size_mb=records * size / lines / MB)
    return planted, written


def ingest(url: str, log: Path) -> dict[str, float]:
    """Send every line of *log* through ClickHouseOutput; time until all are acknowledged."""
    for statement in ddl(TABLE):
        query(url, statement)
    output = ClickHouseOutput(
        url,
        table=TABLE,
        batch_size=20_000,
        flush_interval=0.5,
        queue_size=200_000,
        overflow="block",
    )
    render = output.renderer
    sent = 0
    started = time.perf_counter()
    with log.open("rb") as lines:
        for line in lines:
            output.write(render(None, "info", orjson.loads(line)))
            sent += 1
    while output.delivered + output.dropped < sent:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    output.close()
    stored = int(query(url, f"SELECT count() FROM {TABLE}").strip())  # noqa: S608 - our names
    if stored != sent or output.dropped:
        raise SystemExit(f"sent {sent}, stored {stored}, dropped {output.dropped}")
    return {"records": sent, "seconds": elapsed, "records_per_s": sent / elapsed}


def _source(url: str) -> str:
    """The ``--source`` URL of the bench table on the server at *url*."""
    parts = urllib.parse.urlsplit(url)
    scheme = "clickhouses" if parts.scheme == "https" else "clickhouse"
    return f"{scheme}://{parts.hostname}:{parts.port or 8123}/{TABLE}"


def clickhouse_trace(url: str, root: str) -> int:
    """The look-up of ``trace --source clickhouse://``, in this process: the records found."""
    source = ClickHouseSource.open(_source(url))
    return len(collect_from(source.search(Reader()), root).records)


CLI = (sys.executable, "-m", "flext_logging")


def run(command: list[str]) -> str:
    """Run the CLI or grep; its output."""
    completed = subprocess.run(  # noqa: S603 - the CLI and grep, fixed arguments
        command, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()


def timed(action: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The median seconds of *repeats* runs of *action*, and its last result."""
    times = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--url", help="a running server instead of a fresh one")
    parser.add_argument("--workdir", type=Path, default=Path(".bench"))
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("clickhouse_results.json")
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / "clickhouse.log"
    planted, lines = make_log(log, args.records)
    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flext-ch-")))
            url = stack.enter_context(clickhouse_server(root))
        version = query(url, "SELECT version()").strip()
        loaded = ingest(url, log)
        fresh_seconds, ch_rows = timed(lambda: clickhouse_trace(url, planted), args.repeats)
        parts = int(query(url, "SELECT count() FROM system.parts WHERE active").strip())
        for name in (TABLE, f"{TABLE}_ids"):  # as background merges leave them, at once
            query(url, f"OPTIMIZE TABLE {name} FINAL")
        ch_seconds, ch_rows = timed(lambda: clickhouse_trace(url, planted), args.repeats)
        on_table = [*CLI, "trace", planted, "--format", "json", "--source", _source(url)]
        cli_table_seconds, tree = timed(lambda: run(on_table), args.repeats)
    on_file = [*CLI, "trace", planted, str(log), "--format", "json"]
    grep = [shutil.which("grep") or "/usr/bin/grep", "-cF", planted, str(log)]
    cli_seconds, file_tree = timed(lambda: run(on_file), max(args.repeats // 2, 1))
    if orjson.loads(tree) != orjson.loads(file_tree):
        raise SystemExit("the tree from ClickHouse is not the tree from the file")
    grep_seconds, found = timed(lambda: run(grep), args.repeats)
    report = {
        "clickhouse": version,
        "file_lines": lines,
        "file_mb": round(log.stat().st_size / MB, 1),
        "ingest": loaded,
        "trace_rows": ch_rows,
        "trace_clickhouse_fresh_s": fresh_seconds,
        "active_parts_fresh": parts,
        "trace_clickhouse_s": ch_seconds,
        "trace_cli_clickhouse_s": cli_table_seconds,
        "trace_cli_file_s": cli_seconds,
        "grep_file_s": grep_seconds,
        "grep_lines": int(found or 0),
    }
    print(
        f"ClickHouse {version}: {loaded['records']} records in {loaded['seconds']:.1f} s "
        f"= {loaded['records_per_s']:,.0f} records/s\n"
        f"trace of {planted} ({ch_rows} records): ClickHouse {ch_seconds * 1000:.1f} ms "
        f"({fresh_seconds * 1000:.1f} ms right after the load, {parts} parts); "
        f"flext-logging trace --source clickhouse:// {cli_table_seconds * 1000:.0f} ms, "
        f"on the {report['file_mb']} MB file {cli_seconds * 1000:.0f} ms, "
        f"grep -F {grep_seconds * 1000:.0f} ms"
    )
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
