"""Lay out the few generated lines that hold a spec's names as ruff format would.

Generated modules pass `ruff format --check` and E501 at 88 columns whatever the
length of the names in a spec. Most lines hold a name with room to spare; these
filters lay out the ones that may not: a string constant moves into parentheses
on its own line (split in pieces if it is longer still), an import into a
parenthesized list, a comment gets `# noqa: E501` when it cannot be split.
"""

from __future__ import annotations

import unicodedata
from typing import Final

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
    if indent + width(head) + width(literal) + width(tail) <= WIDTH:
        return f"{head}{literal}{tail}"
    inner = " " * (indent + INDENT)
    room = WIDTH - len(inner) - 2  # the piece's quotes
    body = "\n".join(f'{inner}"{piece}"' for piece in _pieces(value, room))
    return f"{head}(\n{body}\n{' ' * indent}){tail}"


def _pieces(value: str, room: int) -> list[str]:
    """`value` in pieces of at most `room` characters, cut after a `/`, `.` or
    `_` when one falls in the piece (so each reads as a whole path part)."""
    pieces: list[str] = []
    while width(value) > room:
        end = _columns(value, room)
        cut = max(value.rfind(mark, 0, end) for mark in "/._") + 1 or end
        pieces.append(value[:cut])
        value = value[cut:]
    return [*pieces, value]


def width(text: str) -> int:
    """Columns `text` takes, as ruff counts them (the Rust unicode-width
    crate's rules): wide East Asian characters take two; nonspacing and
    enclosing marks, format characters and the Hangul vowel and final jamo
    take none."""
    return sum(_char_width(c) for c in text)


# Format characters (Cf) that unicode-width counts one column wide: the
# prepended concatenation marks, which print as a sign over the digits after them.
_SHOWN_FORMAT: Final = frozenset(
    "\u0600\u0601\u0602\u0603\u0604\u06dd\U000110bd\U000110cd"
)


# Characters the unicode-width crate gives no column that unicodedata shows as
# spacing: spacing vowel signs that extend a grapheme (Grapheme_Extend, which
# unicodedata does not expose), the halfwidth katakana voice marks and the
# Hangul fillers. Measured against ruff's E501 over every code point.
_ALSO_ZERO: Final = frozenset(
    "\u09be\u09d7\u0b3e\u0b57\u0bbe\u0bd7"
    "\u0cc0\u0cc2\u0cc7\u0cc8\u0cca\u0ccb"
    "\u0cd5\u0cd6\u0d3e\u0d4e\u0d57\u0dcf"
    "\u0ddf\u1715\u1734\u1b35\u1b3b\u1b3d"
    "\u1b43\u1b44\u1baa\u1bf2\u1bf3\u302e"
    "\u302f\u3164\ua8fa\ua953\ua9c0\uff9e"
    "\uff9f\uffa0\U000111c0\U000111c2\U000111c3\U00011235"
    "\U0001133e\U0001134d\U00011357\U000114b0\U000114bd\U000115af"
    "\U000116b6\U00011930\U0001193d\U0001193f\U00011941\U00011a84"
    "\U00011a85\U00011a86\U00011a87\U00011a88\U00011a89\U00011d46"
    "\U00016ff0\U00016ff1\U0001d165\U0001d166\U0001d16d\U0001d16e"
    "\U0001d16f\U0001d170\U0001d171\U0001d172"
)


def _char_width(char: str) -> int:
    category = unicodedata.category(char)
    if category in ("Mn", "Me") or (category == "Cf" and char not in _SHOWN_FORMAT):
        return 0
    if char in _ALSO_ZERO:
        return 0
    if "\u1160" <= char <= "\u11ff" or "\ud7b0" <= char <= "\ud7ff":
        return 0  # Hangul vowel and final jamo: they join the syllable before
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _columns(text: str, room: int) -> int:
    """How many characters of `text` fit in `room` columns (at least one)."""
    used = 0
    for i, char in enumerate(text):
        used += _char_width(char)
        if used > room:
            return max(i, 1)
    return len(text)


def imported(module: str, name: str, alias: str) -> str:
    """`from module import name as alias`, parenthesized when it is too long
    (a line that cannot be cut still is: it says so to E501)."""
    flat = f"from {module} import {name} as {alias}"
    if width(flat) <= WIDTH:
        return flat
    opening = comment(f"from {module} import (")
    inner = comment(f"{' ' * INDENT}{name} as {alias},")
    return f"{opening}\n{inner}\n)"


def comment(text: str) -> str:
    """A comment line; one too long to fit (a path) says so to E501."""
    return text if width(text) <= WIDTH else f"{text}  # noqa: E501"
