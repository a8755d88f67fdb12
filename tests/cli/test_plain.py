"""The tree written to a pipe or a file without rich: the bytes rich writes there, or rich.

``trace`` does not import rich to write its tree where rich would draw plain text; these
tests hold the two drawings to the same bytes on every kind of tree and of value, and
check that rich still draws wherever it would not draw plain text.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_records import make_record
from hypothesis import example, given, settings
from hypothesis import strategies as st
from render_sample import sample_records
from rich.console import Console

from flext_logging import keys
from flext_logging.cli import plain, render
from flext_logging.cli.main import main
from flext_logging.cli.tree import Node, build_tree

ODD_TEXT = [
    "",
    " ",
    "trailing spaces   ",
    "[bold red]markup[/]",
    "tab\there, newline\nthere, return\r",
    "\x1b[2J\x9b31m\x07\x08\x0b\x0c",
    "\u202eright to left\u202c \u2066isolate\u2069 \u200bzero\u200dwidth\ufeff",
    "wide 日本語 \uff57\uff49\uff44\uff45",
    "combining e\u0301 a\u0308",
    "emoji 🎉👩‍👩‍👧 flags 🇫🇷",
    "nbsp\u00a0 and line sep\u2028 para\u2029",
    "lone \\ud800 as text",
    "x" * 5000,
]


def _rich_tree(node: Node, **options: Any) -> str:
    """What rich writes for the tree to a pipe (a console at no terminal, as trace makes)."""
    stream = io.StringIO()
    render.render_tree(node, render.new_console(file=stream), **options)
    return stream.getvalue()


def _plain_tree(node: Node, **options: Any) -> str:
    stream = io.StringIO()
    assert plain.render_tree(node, stream, **options)
    return stream.getvalue()


def _odd_records(text: str) -> list[dict[str, Any]]:
    """A request whose every shown value is *text*: services, operations, ids, messages."""
    return [
        make_record(
            keys.EVENT_REQUEST_STARTED,
            "01.000000",
            correlation="c-root",
            span="s1",
            service=text,
            method="GET",
            path=f"/p/{text}",
        ),
        make_record(
            text,
            "01.010000",
            correlation="c-root",
            span="s1",
            level=text,
            operation=text,
            status=text,
            status_code=text,
            duration_ms=0.01,
            error_code=text,
        ),
        make_record(
            keys.EVENT_OPERATION_FAILED,
            "01.020000",
            correlation=f"c-child-{text}",
            parent="c-root",
            level="error",
            operation=text,
            error={keys.ERROR_CODE: text, keys.ERROR_MESSAGE: text, keys.ERROR_TYPE_NAME: text},
        ),
        make_record("orphan", "01.030000", correlation="c-lost", parent=f"gone-{text}"),
    ]


@pytest.mark.parametrize("with_records", [True, False])
@pytest.mark.parametrize("verbose", [True, False])
def test_the_sample_tree_is_drawn_as_rich_draws_it(with_records: bool, verbose: bool) -> None:
    """Guides, labels, records in time order: the same lines as rich's, to the byte."""
    root = build_tree(sample_records(), "c-root", "correlation")
    options: dict[str, Any] = {"with_records": with_records, "view": plain.View(verbose=verbose)}
    assert _plain_tree(root, **options) == _rich_tree(root, **options)


@pytest.mark.parametrize("text", ODD_TEXT)
def test_odd_values_are_drawn_as_rich_draws_them(text: str) -> None:
    """Control characters, markup, wide and combining characters, spaces at the end."""
    root = build_tree(_odd_records(text), "c-root", "correlation")
    assert _plain_tree(root) == _rich_tree(root)


def test_nodes_without_records_orphans_and_skew_are_drawn_as_rich_draws_them() -> None:
    """Made-up roots, orphans and clock skew both ways, several levels deep."""
    deep = Node(kind="span", id="s3", skew_ms=-4.25, duration_ms=1500.0)
    middle = Node(kind="span", id="s2", children=[deep], status="failed", status_code=503)
    orphan = Node(kind="correlation", id="b", orphan=True, missing_parent="gone", failed_below=2)
    skewed = Node(kind="span", id="s", skew_ms=12.5, service="users", children=[middle])
    root = Node(kind="request", id="r1", children=[orphan, skewed, Node(kind="span", id="s4")])
    assert _plain_tree(root) == _rich_tree(root)
    assert _plain_tree(root, with_records=False) == _rich_tree(root, with_records=False)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
@example(service="²", message="")  # a digit Python's float() does not read
def test_any_text_is_drawn_as_rich_draws_it(service: str, message: str) -> None:
    """Whatever the text, the plain tree is rich's tree."""
    records = _odd_records(service)
    records[1][keys.MESSAGE] = message
    root = build_tree(records, "c-root", "correlation")
    assert _plain_tree(root) == _rich_tree(root)


def test_a_line_too_long_to_draw_plain_is_left_to_rich(
    write_log: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A value of 300 000 characters: nothing written plain, and trace has rich draw it,
    whole (off a terminal no line is cut)."""
    records = _odd_records("y" * 300_000)[:-1]  # the orphan is no part of c-root's request
    root = build_tree(records, "c-root", "correlation")
    stream = io.StringIO()
    assert not plain.render_tree(root, stream)
    assert stream.getvalue() == ""
    assert main(["trace", "c-root", str(write_log("app.log", *records))]) == 0
    assert capsys.readouterr().out == _rich_tree(root)


def test_every_unsafe_character_is_escaped() -> None:
    """Each control, bidirectional or invisible character comes out as a visible escape."""
    ranges = [
        (0x00, 0x1F),
        (0x7F, 0x9F),
        (0x61C, 0x61C),
        (0x200B, 0x200F),
        (0x2028, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
    ]
    for first, last in ranges:
        for code in range(first, last + 1):
            shown = plain.safe(f"a{chr(code)}b")
            assert shown.startswith("a\\"), hex(code)
            assert shown.endswith("b"), hex(code)
            assert chr(code) not in shown


class _Stream(io.StringIO):
    def __init__(self, *, terminal: bool = False, encoding: str = "utf-8") -> None:
        super().__init__()
        self._terminal, self._encoding = terminal, encoding

    def isatty(self) -> bool:
        return self._terminal

    @property
    def encoding(self) -> str:  # type: ignore[override]  # io.StringIO's is None
        return self._encoding


@pytest.mark.parametrize(
    ("environ", "terminal", "encoding"),
    [
        ({}, False, "utf-8"),
        ({}, True, "utf-8"),
        ({}, False, "ascii"),
        ({}, False, "UTF8"),
        ({"FORCE_COLOR": "1"}, False, "utf-8"),
        ({"FORCE_COLOR": ""}, False, "utf-8"),
        ({"TTY_COMPATIBLE": "1"}, False, "utf-8"),
        ({"TTY_COMPATIBLE": "0"}, True, "utf-8"),
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False, "utf-8"),
        ({"NO_COLOR": "1", "TERM": "dumb"}, False, "utf-8"),
    ],
)
def test_plain_text_is_drawn_exactly_where_rich_would_draw_plain_text(
    environ: dict[str, str], terminal: bool, encoding: str
) -> None:
    """Off a terminal (where trace's console has no width), as rich sees it too (its
    variables included), with UTF-8 guides."""
    stream = _Stream(terminal=terminal, encoding=encoding)
    console = Console(file=stream, _environ=environ)
    rich_plain = not terminal and not console.is_terminal and not console.options.ascii_only
    assert plain.draws_plain(stream, environ=environ) == rich_plain
    assert not plain.draws_plain(stream, width=80, environ=environ)


def _trace_in_a_child(log: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    """Run trace in a new interpreter, output to a pipe; report whether rich was loaded."""
    code = (
        "import sys; from flext_logging.cli.main import main;"
        "status = main(sys.argv[1:]); sys.stdout.flush();"
        "print('rich loaded' if 'rich' in sys.modules else 'no rich', status, file=sys.stderr)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code, "trace", "c-root", str(log), *extra],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return completed.stdout + completed.stderr.splitlines()[-1]


def test_trace_to_a_pipe_does_not_load_rich(write_log: Callable[..., Path]) -> None:
    """The tree and the JSON go out without rich; the timeline and FORCE_COLOR need it."""
    log = write_log("app.log", *sample_records())
    environ = {"FORCE_COLOR": "", "TTY_COMPATIBLE": ""}
    tree = _trace_in_a_child(log, env=environ)
    assert tree.endswith("no rich 0")
    assert tree.startswith("correlation c-root  10:00:01.000")
    assert _trace_in_a_child(log, "--format", "json", env=environ).endswith("no rich 0")
    assert _trace_in_a_child(log, "--format", "timeline", env=environ).endswith("rich loaded 0")
    coloured = _trace_in_a_child(log, env={"FORCE_COLOR": "1"})
    assert coloured.endswith("rich loaded 0")
    assert "\x1b[" in coloured
