"""Drawing without rich: safe text, the lines of ``trace``'s tree, the tree as JSON.

rich costs some 30 ms to import and 10 ms more to draw its first tree, more than
``trace`` spends searching a gigabyte. Written to a pipe or a file, its tree is plain
text: the labels below with the tree's guide lines, nothing cut, no colour. This module
writes that text itself, byte for byte what rich would write there, and
:mod:`flext_logging.cli.render` draws the same labels with rich, styled, everywhere else
(a terminal, ``--width``, ``FORCE_COLOR``).

A log line is untrusted input. Every value taken from one goes through :func:`safe`,
which writes control characters (C0, DEL, C1 such as the one-character CSI U+009B, and
the bidirectional overrides) as visible escapes: nothing from a log reaches the
terminal as a control sequence.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any, Final

import orjson

from flext_logging import _display, keys
from flext_logging.cli.times import clock, parse_instant
from flext_logging.cli.tree import Node, to_data

__all__ = [
    "Piece",
    "View",
    "devnull_stdout",
    "draws_plain",
    "dump_json",
    "duration",
    "level_style",
    "node_label",
    "number",
    "record_label",
    "render_json",
    "render_tree",
    "safe",
    "short_id",
    "tree_lines",
]

Piece = tuple[str, str]
"""A run of a label's text and the rich style it is drawn in on a terminal."""

# C0 controls, DEL, C1 controls, and the characters that reorder or hide text.
_UNSAFE: Final = (
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_FAILED: Final = "failed"
_LEVEL_STYLES: Final = {
    "trace": "dim",
    "debug": "dim",
    "info": "green",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
    "fatal": "bold white on red",
}
_SHOWN_FIELDS: Final = (
    keys.OPERATION,
    keys.DURATION_MS,
    keys.STATUS,
    keys.STATUS_CODE,
    keys.ERROR_CODE_FIELD,
)
# rich's tree guides (``Tree.TREE_GUIDES[0]``): space, continue, fork, end.
_GUIDES: Final = ("    ", "│   ", "├── ", "└── ")
_LONGEST_PLAIN: Final = 200_000
"""Longer lines go to rich: it cuts a line at its million columns, and a character
may take two."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object) -> str:
    """Return *value* as one line of text that a terminal shows and never obeys.

    Strings are taken as they are, other values as JSON; control characters become
    visible escapes (``\\x1b``, ``\\x9b``, ``\\n``).
    """
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, default=str).decode()
        except TypeError:  # an integer too big for JSON, or a cycle: a plain repr
            text = repr(value)
    # Every character of _UNSAFE is one Python does not call printable: most values
    # need no regular expression, and none is compiled until one does.
    return text if text.isprintable() else re.sub(_UNSAFE, _escape, text)


def short_id(value: object, *, verbose: bool = False) -> str:
    """An id as git shortens a hash: the first 8 characters of a long hex id, else as is."""
    return _display.short_id(safe(value), verbose=verbose)


@dataclass(frozen=True)
class View:
    """How values are shown: times in UTC or local time, ids short or full."""

    local: bool = False
    verbose: bool = False

    def clock(self, value: object) -> str:
        """``HH:MM:SS.mmm`` of a record's time, or of seconds since the epoch."""
        seconds = value if isinstance(value, float) else parse_instant(value)
        return clock(seconds, local=self.local)

    def ident(self, value: object) -> str:
        """An id, shortened unless verbose."""
        return short_id(value, verbose=self.verbose)


def duration(duration_ms: float | None) -> str:
    """A duration for people: ``12.5 ms``, ``1.20 s``, ``-`` when unknown."""
    if duration_ms is None:
        return "-"
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.2f} s"
    return f"{number(duration_ms)} ms"


def number(value: float | None) -> str:
    """A duration in ms: one decimal, and enough digits that a small one is not 0.0."""
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 0.05:
        return f"{value:.1f}"
    return f"{value:.2g}"


# -- The lines of the tree ------------------------------------------------------------------


def _status(node: Node) -> str:
    status = _FAILED if node.status == _FAILED else "ok"
    return status if node.status_code is None else f"{status} {safe(node.status_code)}"


def node_label(node: Node, view: View, *, root: bool = False) -> list[Piece]:
    """The line of a node: what it is, when, how long, how it ended and why, then where.

    The fixed-width facts come first, so that where a terminal wraps the line,
    duration, status and error codes are never the part that is lost.
    """
    pieces: list[Piece] = [
        (node.kind, "bold blue" if node.kind != "span" else "blue"),
        (f" {safe(node.id) if root else view.ident(node.id)}", "dim"),
        (f"  {view.clock(node.start_s)}  {duration(node.duration_ms)}", ""),
        (f"  {_status(node)}", "bold red" if node.status != "ok" else "green"),
    ]
    codes = dict.fromkeys(
        safe(error[keys.ERROR_CODE]) for error in node.errors if error.get(keys.ERROR_CODE)
    )
    if codes:
        pieces.append((f" [{', '.join(codes)}]", "red"))
    if node.failed_below:
        pieces.append((f" ({node.failed_below} failed below)", "red"))
    where = " " if node.service or node.operation else ""
    if node.service:
        pieces.append((f"{where} {safe(node.service)}", "cyan"))
        where = ""
    if node.operation:
        pieces.append((f"{where} {safe(node.operation)}", "bold"))
    if node.orphan:
        pieces.append((f"  (orphan: parent {view.ident(node.missing_parent)} not found)", "yellow"))
    if node.skew_ms > 0:
        pieces.append((f"  (clock skew: starts {node.skew_ms:g} ms before its parent)", "yellow"))
    elif node.skew_ms < 0:
        pieces.append((f"  (clock skew: ends {-node.skew_ms:g} ms after its parent)", "yellow"))
    return pieces


def record_label(record: Mapping[str, Any], view: View) -> list[Piece]:
    """The line of a record in the tree: time, level, message, the fields that matter."""
    level = safe(record.get(keys.LEVEL, ""))
    pieces: list[Piece] = [
        (view.clock(record.get(keys.TIMESTAMP)) + " ", "dim"),
        (f"{level:<7} ", _LEVEL_STYLES.get(level, "")),
        (safe(record.get(keys.MESSAGE, "")), ""),
    ]
    pieces.extend(
        (f" {name}={safe(record[name])}", "magenta") for name in _SHOWN_FIELDS if name in record
    )
    error = record.get(keys.ERROR)
    if isinstance(error, dict):
        code = error.get(keys.ERROR_CODE)
        kind = error.get(keys.ERROR_TYPE_NAME)
        shown = code if code is not None else kind
        message = safe(error.get(keys.ERROR_MESSAGE, ""))
        pieces.append((f" error={safe(shown)}: {message}", "red"))
    return pieces


def level_style(level: str) -> str:
    """The style a level is drawn in (``error`` bold red), or none."""
    return _LEVEL_STYLES.get(level, "")


# -- The tree as plain text -------------------------------------------------------------------


def draws_plain(
    stream: IO[str], *, width: int | None = None, environ: Mapping[str, str] = os.environ
) -> bool:
    """Return whether rich would write the tree to *stream* as plain text, whole lines.

    That is: no ``--width``, a destination that is no terminal and that rich is not
    told to treat as one (``TTY_COMPATIBLE=1``, a non-empty ``FORCE_COLOR``), and a
    UTF-8 encoding (rich draws ASCII guides otherwise).
    """
    if width is not None:
        return False
    try:
        if stream.isatty():
            return False
    except (AttributeError, ValueError):  # closed, or replaced by something without it
        pass
    compatible = environ.get("TTY_COMPATIBLE", "")
    if compatible == "1":
        return False
    if compatible != "0" and environ.get("FORCE_COLOR"):
        return False
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower()
    return encoding.startswith("utf")


def tree_lines(node: Node, *, with_records: bool = True, view: View | None = None) -> list[str]:
    """The lines of the tree of *node* as rich draws them off a terminal, guides included."""
    view = view or View()
    lines = ["".join(text for text, _ in node_label(node, view, root=True))]

    def add(parent: Node, indent: str) -> None:
        entries = parent.entries() if with_records else parent.children
        for index, entry in enumerate(entries):
            last = index == len(entries) - 1
            fork = _GUIDES[3] if last else _GUIDES[2]
            if isinstance(entry, Node):
                lines.append(indent + fork + "".join(text for text, _ in node_label(entry, view)))
                add(entry, indent + (_GUIDES[0] if last else _GUIDES[1]))
            else:
                lines.append(indent + fork + "".join(text for text, _ in record_label(entry, view)))

    add(node, "")
    return lines


def render_tree(
    node: Node, stream: IO[str], *, with_records: bool = True, view: View | None = None
) -> bool:
    """Write the tree of *node* to *stream* as plain text; ``False`` (nothing written) when
    a line is too long for that, and rich must draw it."""
    lines = tree_lines(node, with_records=with_records, view=view)
    if any(len(line) > _LONGEST_PLAIN for line in lines):
        return False
    stream.write("".join(line + "\n" for line in lines))
    return True


# -- JSON for scripts ---------------------------------------------------------------------------

_JSON_UNSAFE: Final = "[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"


def dump_json(data: object, *, indent: bool = False) -> str:
    """Return *data* as JSON text, newline included, with every control character escaped.

    orjson escapes C0 controls; C1 (U+0080-U+009F, U+009B being a CSI) and the
    characters that reorder text it writes raw, which a terminal may obey: they are
    written as ``\\uXXXX``, which is the same JSON.
    """
    option = orjson.OPT_INDENT_2 if indent else 0
    text = orjson.dumps(data, default=safe, option=option).decode()
    return re.sub(_JSON_UNSAFE, lambda match: f"\\u{ord(match.group()):04x}", text) + "\n"


def render_json(node: Node, *, with_records: bool = True) -> str:
    """Return the tree as indented JSON text, newline included."""
    return dump_json(to_data(node, with_records=with_records), indent=True)


def devnull_stdout() -> None:
    """Point stdout at /dev/null, so that flushing at exit after a closed pipe is silent."""
    with suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):  # a capture
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
