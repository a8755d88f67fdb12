"""Time ``flext-logging trace`` against ``grep -F``, ``rg -F`` and ``jq`` on one large log.

    python benchmarks/generate_logs.py --output .bench/app.log   # prints two root ids
    python benchmarks/bench_cli.py --log .bench/app.log --id ID --fanout-id ID2
    # make bench-cli does both

The commands look for the same correlation id in the same file:

- ``flext-logging trace ID FILE``: finds the id, follows the correlations started inside
  it (a second search of the file), rebuilds and draws the tree (skipped, and said so,
  while the CLI is not installed);
- ``grep -F ID FILE`` and ripgrep's ``rg -F ID FILE``: the floor, fixed-string scans
  that parse nothing (``rg`` is skipped, and said so, where it is not installed);
- ``jq -c 'select(.correlation_id=="ID")' FILE``: parses every line;
- with ``--fanout-id``, ``flext-logging trace`` of a request that started 500 child
  correlations: one multi-needle search per level, so it should cost about what the
  plain trace costs, not 500 searches;
- for information, where the package is an editable install through setuptools'
  import finder (``make`` installs it without one: ``package-dir`` in pyproject.toml),
  the plain trace once more, started as a regular install starts it: without site's
  ``.pth`` files, so without the finder, which costs every start some 13 ms that no
  installed ``flext-logging`` pays. The targets are judged on the first row.

The package is byte-compiled first (``compileall``, as ``pip install`` does for a
regular install): run from an editable install with ``PYTHONDONTWRITEBYTECODE`` set, each
run would otherwise compile every module again, which no installed CLI does. The file is
read once first so that every command finds it in the page cache. Then the
commands run round-robin for ``--repeats`` rounds (jq only in the first
``--jq-repeats``: it is some 40 times slower), so machine noise hits all of them alike;
the report gives the median wall time of each and the ratios the issue sets as
targets: ours at most 1.0x ``grep -F`` and within 2x of ``rg -F``, at least 5x faster
than ``jq``, and the fan-out at most 10x the plain trace (a search per child would be
about 250x). Output is read through a pipe and checked (every command must find the
id), never sent to ``/dev/null``: GNU grep stops at the first match when its output is
``/dev/null``, which would time a different
job. Results go to a table on stdout and to ``benchmarks/cli_results.json``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import signal
import site
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 1024 * 1024
RUN_TIMEOUT_S = 900
OURS, GREP, RG, JQ = "flext-logging trace", "grep -F", "rg -F", "jq select"
FANOUT = "flext-logging trace (fan-out)"
BARE = "trace, no editable finder"
"""The same trace started as a regular (non-editable) install starts: an editable install
runs setuptools' import finder at every start (some 13 ms, before anything of ours)."""
TARGET_VS_GREP = 1.0
"""Ours may take at most this many times as long as ``grep -F``."""
TARGET_VS_RG = 2.0
"""Ours may take at most this many times as long as ripgrep's ``rg -F``."""
TARGET_VS_JQ = 5.0
"""``jq`` must take at least this many times as long as ours."""
TARGET_FANOUT = 10.0
"""The trace of a 500-child fan-out may take at most this many times the plain trace
(one search per child would make it about 250 times)."""


@dataclass
class Tool:
    """One command under test and what happened when it ran."""

    name: str
    command: list[str]
    skipped: str | None = None
    times_s: list[float] = field(default_factory=list)
    error: str | None = None
    output_lines: int | None = None

    def report(self, size_bytes: int) -> dict[str, Any]:
        """Return this tool's row of the JSON report."""
        median = statistics.median(self.times_s) if self.times_s else None
        return {
            "command": self.command,
            "skipped": self.skipped,
            "error": self.error,
            "times_s": self.times_s,
            "median_s": median,
            "mb_per_s": size_bytes / MB / median if median else None,
            "output_lines": self.output_lines,
        }


def find_cli() -> tuple[list[str] | None, str | None]:
    """Return the ``flext-logging`` command, or None and why it cannot be used."""
    candidate = Path(sys.executable).with_name("flext-logging")
    path = str(candidate) if candidate.exists() else shutil.which("flext-logging")
    if path is None:
        return None, "the flext-logging CLI is not installed (no flext-logging executable)"
    try:
        probe = subprocess.run(  # noqa: S603 - the installed CLI, fixed arguments
            [path, "trace", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path} trace --help failed: {exc}"
    if probe.returncode != 0:
        return None, f"{path} trace --help exited {probe.returncode}: {probe.stderr.strip()}"
    return [path], None


def build_tools(log: Path, correlation_id: str, fanout_id: str | None = None) -> list[Tool]:
    """The commands for *correlation_id* in *log*; those not installed are marked skipped."""
    cli, reason = find_cli()
    ours = Tool(OURS, [*(cli or ["flext-logging"]), "trace", correlation_id, str(log)])
    ours.skipped = reason
    grep = Tool(GREP, [shutil.which("grep") or "grep", "-F", correlation_id, str(log)])
    rg = Tool(RG, [shutil.which("rg") or "rg", "-F", correlation_id, str(log)])
    jq_filter = f'select(.correlation_id=="{correlation_id}")'
    jq = Tool(JQ, [shutil.which("jq") or "jq", "-c", jq_filter, str(log)])
    for tool in (grep, rg, jq):
        if shutil.which(tool.command[0]) is None:
            tool.skipped = f"{tool.command[0]} is not installed"
    tools = [ours, grep, rg, jq]
    bare = Tool(BARE, [*_bare_start(), "trace", correlation_id, str(log)])
    bare.skipped = reason or (
        None if _editable_finder() else "no editable import finder: the first row starts so"
    )
    tools.append(bare)
    if fanout_id is not None:
        fanout = Tool(FANOUT, [*(cli or ["flext-logging"]), "trace", fanout_id, str(log)])
        fanout.skipped = reason
        tools.append(fanout)
    return tools


def _editable_finder() -> bool:
    """Whether flext_logging is installed here through setuptools' editable import finder
    (a ``__editable___flext_logging_*_finder`` module that a ``.pth`` file starts)."""
    return any(
        path.name.endswith("_finder.py") and "flext_logging" in path.name
        for directory in site.getsitepackages()
        for path in Path(directory).glob("__editable__*")
    )


def _bare_start() -> list[str]:
    """This interpreter running the CLI's entry point without site's ``.pth`` files: the
    package and the site-packages on the path, as a regular install has them."""
    spec = importlib.util.find_spec("flext_logging")
    package = next(iter(spec.submodule_search_locations or [])) if spec else "."
    paths = [str(Path(package).parent), *site.getsitepackages()]
    code = f"import sys; sys.path[:0] = {paths!r}; from flext_logging.cli.main import run; run()"
    return [sys.executable, "-S", "-c", code]


def check_output(tool: Tool, stdout: bytes, correlation_id: str) -> str | None:
    """Return why *stdout* is not what *tool* should print for the id, or None if it is."""
    lines = stdout.splitlines()
    tool.output_lines = len(lines)
    needle = correlation_id.encode()
    if tool.name in (GREP, RG) and (not lines or not all(needle in line for line in lines)):
        return f"{tool.name} printed no line, or a line without the id"
    if tool.name == JQ:
        parsed = [json.loads(line) for line in lines]
        if not parsed or any(r.get("correlation_id") != correlation_id for r in parsed):
            return "jq printed no record, or a record of another correlation"
    if tool.name in (OURS, BARE) and (not lines or needle not in lines[0]):
        return "flext-logging trace printed no tree rooted at the id"
    if tool.name == FANOUT and sum(b"correlation " in line for line in lines) < 2:
        return "the fan-out trace printed no child correlation"
    return None


def run_once(tool: Tool, correlation_id: str) -> None:
    """Run *tool* once, add its wall time, and record an error instead if it failed.

    The time is the command's as its user sees it: until its output ended and it exited.
    Each command runs in a session of its own, and the next one starts only once every
    process of that session is gone: ``flext-logging`` does not wait for its search
    workers to unmap the file (the system reaps them), and that work must not overlap,
    and slow down, the next command timed.
    """
    started = time.perf_counter()
    try:
        process = subprocess.Popen(  # noqa: S603 - commands built by build_tools()
            tool.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except OSError as exc:
        tool.error = f"{type(exc).__name__}: {exc}"
        return
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        tool.error = f"{type(exc).__name__}: {exc}"
        return
    elapsed = time.perf_counter() - started
    _wait_for_session(process.pid)
    if process.returncode != 0:
        tool.error = (
            f"exited {process.returncode}: {stderr.decode(errors='replace').strip()[-500:]}"
        )
        return
    tool.error = check_output(tool, stdout, correlation_id)
    if tool.error is None:
        tool.times_s.append(elapsed)


def _wait_for_session(session: int) -> None:
    """Wait (at most a minute) until no process of the session led by *session* is left."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(session, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # a process of it changed user: it is not ours to wait for
            return
        time.sleep(0.001)


def compile_package() -> str | None:
    """Byte-compile flext_logging where the CLI imports it from; return that directory."""
    spec = importlib.util.find_spec("flext_logging")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = next(iter(spec.submodule_search_locations))
    subprocess.run(  # noqa: S603 - this interpreter's compileall on our own package
        [sys.executable, "-m", "compileall", "-q", "-f", package],
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=True,
    )
    return package


def warm_cache(log: Path) -> tuple[int, int]:
    """Read *log* once so every command finds it in the page cache; return bytes and lines."""
    size = lines = 0
    with log.open("rb") as stream:
        while block := stream.read(16 * MB):
            size += len(block)
            lines += block.count(b"\n")
    return size, lines


def _version(command: list[str]) -> str | None:
    try:
        completed = subprocess.run(  # noqa: S603 - grep/jq --version
            command, capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    lines = (completed.stdout or completed.stderr).splitlines()
    return lines[0].strip() if lines else None


def _stringzilla_version() -> str | None:
    """The StringZilla the CLI searches with (None: it falls back to mmap.find)."""
    try:
        import stringzilla
    except ImportError:
        return None
    return str(stringzilla.__version__)


def ratios(tools: dict[str, Tool]) -> dict[str, Any]:
    """Return ours over grep, rg and the plain trace, jq over ours, and each target's verdict."""
    medians = {name: statistics.median(t.times_s) for name, t in tools.items() if t.times_s}
    ours, grep, rg, jq = (medians.get(name) for name in (OURS, GREP, RG, JQ))
    fanout, bare = medians.get(FANOUT), medians.get(BARE)
    vs_grep = ours / grep if ours and grep else None
    vs_rg = ours / rg if ours and rg else None
    jq_over_ours = jq / ours if ours and jq else None
    fanout_over_ours = fanout / ours if ours and fanout else None
    return {
        "ours_over_grep": vs_grep,
        "ours_over_rg": vs_rg,
        "jq_over_ours": jq_over_ours,
        "fanout_over_ours": fanout_over_ours,
        "no_editable_finder_over_rg": bare / rg if bare and rg else None,
        "target_at_most_grep": None if vs_grep is None else vs_grep <= TARGET_VS_GREP,
        "target_within_2x_of_rg": None if vs_rg is None else vs_rg <= TARGET_VS_RG,
        "target_5x_faster_than_jq": None if jq_over_ours is None else jq_over_ours >= TARGET_VS_JQ,
        "target_fanout_within_10x": (
            None if fanout_over_ours is None else fanout_over_ours <= TARGET_FANOUT
        ),
    }


def print_table(tools: list[Tool], summary: dict[str, Any], size: int, lines: int) -> None:
    """Print the medians and the ratios for people."""
    print(f"{size / MB:.0f} MB, {lines} lines; median wall time of each command:")
    for tool in tools:
        if tool.skipped:
            print(f"  {tool.name:<29} skipped: {tool.skipped}")
        elif tool.error:
            print(f"  {tool.name:<29} FAILED: {tool.error}")
        else:
            median = statistics.median(tool.times_s)
            rate = size / MB / median
            print(f"  {tool.name:<29} {median:8.3f} s  {rate:8.0f} MB/s  {tool.output_lines} lines")
    met = {True: "met", False: "MISSED", None: "not measured"}
    for key, label, target in (
        ("ours_over_grep", "ours / grep -F", f"<= {TARGET_VS_GREP:g}"),
        ("ours_over_rg", "ours / rg -F", f"<= {TARGET_VS_RG:g}"),
        ("jq_over_ours", "jq / ours", f">= {TARGET_VS_JQ:g}"),
        ("fanout_over_ours", "fan-out / plain trace", f"<= {TARGET_FANOUT:g}"),
    ):
        value = summary[key]
        verdict = met[_verdict(summary, key)]
        shown = "n/a" if value is None else f"{value:.2f}"
        print(f"{label} = {shown} (target {target}: {verdict})")
    bare = summary["no_editable_finder_over_rg"]
    if bare is not None:
        print(f"ours without the editable finder / rg -F = {bare:.2f} (for information)")


def _verdict(summary: dict[str, Any], key: str) -> bool | None:
    verdict: bool | None = {
        "ours_over_grep": summary["target_at_most_grep"],
        "ours_over_rg": summary["target_within_2x_of_rg"],
        "jq_over_ours": summary["target_5x_faster_than_jq"],
        "fanout_over_ours": summary["target_fanout_within_10x"],
    }[key]
    return verdict


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 if a command that ran failed or printed the wrong thing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=Path(".bench/app.log"))
    parser.add_argument("--id", required=True, help="the correlation id to look for")
    parser.add_argument("--fanout-id", help="the root of a request with many children")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--jq-repeats",
        type=int,
        default=3,
        help="rounds jq takes part in (it is 40x slower: a few runs give its median)",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("cli_results.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    tools = build_tools(args.log, args.id, args.fanout_id)
    compiled = compile_package()
    size, lines = warm_cache(args.log)
    runnable = [tool for tool in tools if tool.skipped is None]
    for round_number in range(args.repeats):
        # Rotate the order so no command always runs first after a pause.
        shift = round_number % len(runnable) if runnable else 0
        for tool in runnable[shift:] + runnable[:shift]:
            if tool.error is None and (tool.name != JQ or round_number < args.jq_repeats):
                run_once(tool, args.id)
    summary = ratios({tool.name: tool for tool in tools})
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "versions": {
            "grep": _version(["grep", "--version"]),
            "rg": _version(["rg", "--version"]),
            "jq": _version(["jq", "--version"]),
            "stringzilla": _stringzilla_version(),
        },
        "bytecode_compiled": compiled,
        "log": {"path": str(args.log), "size_bytes": size, "lines": lines},
        "id": args.id,
        "fanout_id": args.fanout_id,
        "repeats": args.repeats,
        "jq_repeats": min(args.jq_repeats, args.repeats),
        "tools": {tool.name: tool.report(size) for tool in tools},
        **summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_table(tools, summary, size, lines)
    print(f"report written to {args.output}")
    return 1 if any(tool.error for tool in tools) else 0


if __name__ == "__main__":
    raise SystemExit(main())
