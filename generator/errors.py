"""Diagnostics a person can act on: `file:line:col: location: message`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

Path = tuple[str | int, ...]


def format_location(path: Path) -> str:
    """Render a spec path the way a reader writes it: `schemas[2].index`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "<document>"


def more_names(count: int) -> str:
    """` (and 2 more names)` after the first of several names; `` for none."""
    if count <= 0:
        return ""
    return f" (and {count} more name{'' if count == 1 else 's'})"


@dataclasses.dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a spec, pinned to the line and column that caused it."""

    file: str
    line: int
    column: int
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.location}: {self.message}"


class SpecError(Exception):
    """Every problem found in one or more specs; raised before any file is written."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(sorted(diagnostics))
        super().__init__("\n".join(str(d) for d in self.diagnostics))
