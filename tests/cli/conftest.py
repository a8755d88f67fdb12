"""Fixtures of the CLI tests: log files written from hand-made records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[..., Path]:
    """Return a function writing records (or raw text lines) to a file in tmp_path."""

    def write(name: str, *lines: dict[str, Any] | str) -> Path:
        path = tmp_path / name
        with path.open("wb") as stream:
            for line in lines:
                stream.write(line.encode() if isinstance(line, str) else orjson.dumps(line))
                stream.write(b"\n")
        return path

    return write
