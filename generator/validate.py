"""Turn a loaded YAML tree into a `Spec`, or into diagnostics with line and column."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from generator.errors import Diagnostic, Path, SpecError
from generator.loader import Loaded
from generator.spec import LinkSpec, SchemaSpec, ShardSpec, Spec

# The mapping that holds a key, by the first step of its path.
_MODELS: dict[str | int, type[BaseModel]] = {
    "schemas": SchemaSpec,
    "shard": ShardSpec,
    "links": LinkSpec,
}


_SHAPES: dict[str | int, str] = {
    "schemas": "a schema name or a mapping {name, index?, actions?}",
    "shard": "a mapping {count} or {function, tables}",
    "links": "a mapping {table, column, typed?, constrained?}",
}


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    """The message for an unknown key: the closest allowed key, or all of them."""
    model = Spec if len(loc) < 2 else _MODELS.get(loc[0], Spec)
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (allowed here: {', '.join(allowed)})"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(tuple(error["loc"]))
    if kind == "missing":
        return "is required"
    if kind == "too_short" and error["loc"] == ("schemas",):
        return "must list at least one schema"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "model_type":  # not the model's class name: what the spec takes
        shape = _SHAPES.get(error["loc"][0], "a mapping")
        return f"expected {shape}, got {_shown(error['input'])}"
    if kind in {
        "string_type",
        "int_type",
        "bool_type",
        "dict_type",
        "list_type",
        "model_type",
    }:
        message = f"{message}, got {_shown(error['input'])}"
    return message


def _path(error: ErrorDetails) -> tuple[Path, bool]:
    """pydantic's loc as a spec path; the flag says the error is about a mapping key."""
    loc = list(error["loc"])
    about_key = error["type"] == "extra_forbidden"
    if loc and loc[-1] == "[key]":
        loc.pop()
        about_key = True
    return tuple(loc), about_key


def validate(loaded: Loaded) -> Spec:
    """Validate shape and syntax; every error of the document is reported together."""
    try:
        return Spec.model_validate(loaded.data)
    except ValidationError as exc:
        diagnostics: list[Diagnostic] = []
        for error in exc.errors(include_url=False):
            path, about_key = _path(error)
            diagnostics.append(
                loaded.marks.diagnostic(path, _message(error), key=about_key)
            )
        raise SpecError(diagnostics) from None
