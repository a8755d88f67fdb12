"""Measure the size cap on records with many small fields, side by side in one run.

For each case the same record is rendered by the JSON (or logfmt) renderer with the
default 64 KiB cap, which cuts it, and with the cap off, which writes it whole; the
ratio is capped/uncapped, the median of paired rounds. A linear cut keeps the cost per
field flat as the field count grows (it was quadratic: 12k fields took ~5 s).

    python benchmarks/bench_fit.py
    python benchmarks/bench_fit.py --rounds 3      # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Final

from flext_logging import keys
from flext_logging.renderers import JSONRenderer, LogfmtRenderer

CASES: Final = (("json", 2_000), ("json", 12_000), ("json", 50_000), ("logfmt", 8_000))


def record(fields: int) -> dict[str, Any]:
    """A record with *fields* small call fields after the head and two context ids."""
    return {
        keys.TIMESTAMP: "2026-01-01T00:00:00.000000Z",
        keys.LEVEL: "info",
        keys.LOGGER: "bench.fit",
        keys.MESSAGE: "many fields",
        keys.CORRELATION_ID: "c-1",
        keys.REQUEST_ID: "r-1",
        **{f"field_{n}": f"value number {n} of the record" for n in range(fields)},
    }


def main(argv: list[str] | None = None) -> int:
    """Print capped and uncapped milliseconds per record and their ratio, per case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"{'case':<16} {'capped ms':>10} {'whole ms':>9} {'ratio':>6} {'us/field':>9}")
    for kind, fields in CASES:
        renderer = JSONRenderer if kind == "json" else LogfmtRenderer
        capped, whole = renderer(), renderer(max_record_bytes=None)
        event = record(fields)
        samples: dict[str, list[float]] = {"capped": [], "whole": []}
        for _ in range(args.rounds):
            for name, render in (("capped", capped), ("whole", whole)):
                start = time.perf_counter()
                line = render(None, "info", dict(event))
                samples[name].append((time.perf_counter() - start) * 1000)
                if name == "capped":
                    text = line.decode() if isinstance(line, bytes) else line
                    assert len(text.encode()) <= 65_536, "the cap was not kept"
                    if kind == "json":
                        assert json.loads(text)[keys.TRUNCATED] is True
        ratio = statistics.median(
            a / b for a, b in zip(samples["capped"], samples["whole"], strict=True)
        )
        ms = statistics.median(samples["capped"])
        print(
            f"{kind + ' ' + str(fields):<16} {ms:10.2f} "
            f"{statistics.median(samples['whole']):9.2f} {ratio:6.1f} {ms * 1000 / fields:9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
