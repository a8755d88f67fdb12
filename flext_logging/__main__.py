"""``python -m flext_logging``: the ``flext-logging`` command-line tool."""

from __future__ import annotations

import sys

from flext_logging.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
