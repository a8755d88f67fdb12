"""How ids and context look on a line read by a person: the console format and the CLI.

Long hex ids are cut to their first 8 characters, as git shortens a hash, and the
context keys get short labels; the full values stay in the JSON lines and appear with
the verbose options. One table, so ``format="console"`` and ``flext-logging pretty``
write the same line.
"""

from __future__ import annotations

import re
from typing import Final

from flext_logging import keys

__all__ = ["CONTEXT_LABELS", "QUIET_CONTEXT", "short_id"]

SHORT_ID_LENGTH: Final = 8
_LONG_ID: Final = 12
"""Ids longer than this are shortened; shorter ones (``req-7f3a``) are shown whole."""
_HEX: Final = re.compile(r"[0-9a-fA-F-]+\Z")

CONTEXT_LABELS: Final = {
    keys.CORRELATION_ID: "corr",
    keys.PARENT_CORRELATION_ID: "parent",
    keys.REQUEST_ID: "req",
    keys.TRACE_ID: "trace",
    keys.SPAN_ID: "span",
}
"""The context ids and the short label each is shown with."""
QUIET_CONTEXT: Final = (keys.SERVICE_VERSION, keys.ENVIRONMENT, keys.OPERATION_NAME)
"""Context left off a line unless it is verbose: the same on most lines of a service."""


def short_id(text: str, *, verbose: bool = False) -> str:
    """Return an id as git shortens a hash: the first 8 characters of a long hex id."""
    if verbose or len(text) <= _LONG_ID or not _HEX.match(text):
        return text
    return text[:SHORT_ID_LENGTH]
