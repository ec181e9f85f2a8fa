"""The spec format, version 1, as pydantic v2 models (strict types, no unknown keys).

These models check shape and the syntax of each name; rules that relate several
values (index order, code collisions, derived name lengths) live in `plan.py`.
"""

from __future__ import annotations

import keyword
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

MAX_INDEX = 2**31 - 1  # the schema column is a PostgreSQL integer
SQL_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
SNAKE_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
FUNCTION_PATH = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
)
# Enum members that would shadow enum machinery or int/str attributes break the
# generated enums (at run time or under mypy); refuse them up front.
AMBIGUOUS = frozenset({"l", "I", "O"})
# Frozen, not read from the running Python: a spec must pass or fail alike on
# every supported Python (3.12 added int.is_integer, which an enum member would
# shadow, and the soft keyword `type`, which stays a valid name everywhere).
# Names with a leading underscore are refused anyway.
INT_ATTRIBUTES = frozenset(
    {
        "as_integer_ratio", "bit_count", "bit_length", "conjugate", "denominator",
        "from_bytes", "imag", "is_integer", "numerator", "real", "to_bytes",
    }
)  # fmt: skip
STR_ATTRIBUTES = frozenset(
    {
        "capitalize", "casefold", "center", "count", "encode", "endswith",
        "expandtabs", "find", "format", "format_map", "index", "isalnum",
        "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
        "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join",
        "ljust", "lower", "lstrip", "maketrans", "partition", "removeprefix",
        "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
        "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
        "swapcase", "title", "translate", "upper", "zfill",
    }
)  # fmt: skip
SOFT_KEYWORDS = frozenset({"_", "case", "match"})
INT_ENUM_RESERVED = frozenset({"name", "value", "mro", *INT_ATTRIBUTES})
STR_ENUM_RESERVED = frozenset({"name", "value", "mro", *STR_ATTRIBUTES})


MAX_NAME_LENGTH = 40  # keeps every generated line within ruff's 88 columns


def _python_name(value: str) -> str:
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{value!r} is longer than {MAX_NAME_LENGTH} characters")
    if not value.isidentifier():
        raise ValueError(f"{value!r} is not a Python identifier")
    if not value.isascii():
        raise ValueError(f"{value!r} is not ASCII: generated names stay ASCII")
    if keyword.iskeyword(value) or value in SOFT_KEYWORDS:
        raise ValueError(f"{value!r} is a Python keyword")
    if value.startswith("_"):
        raise ValueError(f"{value!r} must not start with an underscore")
    if value in AMBIGUOUS:
        raise ValueError(f"{value!r} reads as 1 or 0 in many fonts (ruff's E741)")
    return value


def _int_member(value: str) -> str:
    if value in INT_ENUM_RESERVED:
        raise ValueError(
            f"{value!r} is reserved: it would shadow an int/enum attribute"
        )
    return value


def _str_member(value: str) -> str:
    if value in STR_ENUM_RESERVED:
        raise ValueError(f"{value!r} is reserved: it would shadow a str/enum attribute")
    return value


def _snake_name(value: str) -> str:
    if not SNAKE_IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a snake_case identifier ([a-z][a-z0-9_]*)")
    return _python_name(value)


def _exact_int(value: object) -> object:
    """Literal[1] takes True and 1.0 as well (they equal 1): not here. Every
    other value is refused in these words too, not in pydantic's."""
    if value == 1 and type(value) is int:
        return value
    if type(value) is int:
        raise ValueError(
            f"must be 1, the one spec version this tool reads, not {value}"
        )
    raise ValueError(f"must be the integer 1, not {value!r}")


def _sql_name(value: str) -> str:
    if not SQL_IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid SQL identifier (must match ^[a-z_][a-z0-9_]*$)"
        )
    return value


def _function_path(value: str) -> str:
    if not FUNCTION_PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a function path of the form 'package.module:function'"
        )
    module, _, function = value.partition(":")
    for part in (*module.split("."), function):
        if keyword.iskeyword(part):
            raise ValueError(f"{value!r} contains the Python keyword {part!r}")
    return value


PythonName = Annotated[str, AfterValidator(_python_name)]
SnakeName = Annotated[str, AfterValidator(_snake_name)]
SchemaName = Annotated[str, AfterValidator(_python_name), AfterValidator(_int_member)]
ActionName = Annotated[str, AfterValidator(_snake_name), AfterValidator(_int_member)]
LinkName = Annotated[str, AfterValidator(_snake_name), AfterValidator(_str_member)]
SqlName = Annotated[str, AfterValidator(_sql_name)]
FunctionPath = Annotated[str, AfterValidator(_function_path)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SchemaSpec(_Model):
    """One evented schema; `index` pins its stored integer."""

    name: SchemaName
    index: Annotated[int, Field(ge=0, le=MAX_INDEX)] | None = None
    actions: list[ActionName] = Field(default_factory=list)


def _schema_shorthand(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class ShardSpec(_Model):
    """Exactly one of `count` (built-in byte sharding) or `function` (with `tables`)."""

    count: Annotated[int, Field(ge=1, le=256)] | None = None
    function: FunctionPath | None = None
    tables: list[SqlName] | None = None


class LinkSpec(_Model):
    """A join table between events; `typed` adds an integer `type` column."""

    table: SqlName
    column: SqlName
    typed: bool = False
    constrained: bool = True


class Spec(_Model):
    """A whole spec file, version 1."""

    version: Annotated[Literal[1], BeforeValidator(_exact_int)]
    module: SnakeName
    table: SqlName
    hashed: bool = False
    schemas: Annotated[
        list[Annotated[SchemaSpec, BeforeValidator(_schema_shorthand)]],
        Field(min_length=1),
    ]
    aliases: dict[ActionName, ActionName] = Field(default_factory=dict)
    shard: ShardSpec | None = None
    links: dict[LinkName, LinkSpec] = Field(default_factory=dict)
