"""Lay out the few generated lines that hold a spec's names as ruff format would.

Generated modules pass `ruff format --check` and E501 at 88 columns whatever the
length of the names in a spec. Most lines hold a name with room to spare; these
filters lay out the ones that may not: a string constant moves into parentheses
on its own line (split in pieces if it is longer still), an import into a
parenthesized list, a comment gets `# noqa: E501` when it cannot be split.
"""

from __future__ import annotations

WIDTH = 88
INDENT = 4


def fitted(head: str, value: str, indent: int = 0, tail: str = "") -> str:
    """`head` followed by `value` as a string literal, then `tail`, written at
    column `indent` (the template's own indentation, not repeated here).

    Flat when it fits; else the literal alone in parentheses on the next line;
    else the literal cut in pieces (implicit concatenation, one per line), each
    within the width where the value allows it.
    """
    literal = f'"{value}"'
    if indent + len(head) + len(literal) + len(tail) <= WIDTH:
        return f"{head}{literal}{tail}"
    inner = " " * (indent + INDENT)
    room = WIDTH - len(inner) - 2  # the piece's quotes
    pieces = [value] if len(literal) + len(inner) <= WIDTH else _pieces(value, room)
    body = "\n".join(f'{inner}"{piece}"' for piece in pieces)
    return f"{head}(\n{body}\n{' ' * indent}){tail}"


def _pieces(value: str, room: int) -> list[str]:
    """`value` in pieces of at most `room` characters, cut after a `/`, `.` or
    `_` when one falls in the piece (so each reads as a whole path part)."""
    pieces: list[str] = []
    while len(value) > room:
        cut = max(value.rfind(mark, 0, room) for mark in "/._") + 1 or room
        pieces.append(value[:cut])
        value = value[cut:]
    return [*pieces, value]


def imported(module: str, name: str, alias: str) -> str:
    """`from module import name as alias`, parenthesized when it is too long."""
    flat = f"from {module} import {name} as {alias}"
    if len(flat) <= WIDTH:
        return flat
    return f"from {module} import (\n{' ' * INDENT}{name} as {alias},\n)"


def comment(text: str) -> str:
    """A comment line; one too long to fit (a path) says so to E501."""
    return text if len(text) <= WIDTH else f"{text}  # noqa: E501"
