"""A log collector that reads its pipe slowly: ``python slow_reader.py FILE < pipe``.

Container runtimes and log shippers fall behind under load; the pipe then stays full,
which is when a write longer than PIPE_BUF can be split by another process's write.
It reads 8 KiB at a time with a short pause, and writes everything to FILE.
"""

from __future__ import annotations

import os
import sys
import time

CHUNK = 8192
PAUSE_S = 0.0002

with open(sys.argv[1], "wb") as out:
    while chunk := os.read(0, CHUNK):
        out.write(chunk)
        time.sleep(PAUSE_S)
