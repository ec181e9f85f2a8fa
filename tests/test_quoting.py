"""The generator quotes SQL names exactly as psycopg's sql.Identifier does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from generator.plan import quote
from generator.spec import SQL_IDENTIFIER


@given(st.from_regex(SQL_IDENTIFIER, fullmatch=True))
def test_quote_matches_psycopg_for_spec_identifiers(name: str) -> None:
    assert quote(name) == sql.Identifier(name).as_string(None)


# Any text a YAML spec can hold: no NUL, no lone surrogates (not encodable).
_TEXT = st.characters(blacklist_characters="\x00", codec="utf-8")


@given(st.text(alphabet=_TEXT, min_size=1))
def test_quote_matches_psycopg_for_any_text(name: str) -> None:
    assert quote(name) == sql.Identifier(name).as_string(None)
