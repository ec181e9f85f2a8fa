"""The `spectorgen` console script: the CLI is imported under its guard, so a
Ctrl-C while pydantic, Jinja2 and PyYAML load ends the run as one during it
does (no traceback, exit code 130, nothing written)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `spectorgen` console script and `python -m generator`."""
    try:
        from generator.cli import main as run

        return run(argv)
    except KeyboardInterrupt:  # before the CLI's own handler was reached
        print("spectorgen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
