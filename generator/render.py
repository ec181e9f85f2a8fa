"""Render a plan through the Jinja2 templates and verify the text in memory."""

from __future__ import annotations

import ast
import dataclasses
import functools
from pathlib import Path

import jinja2

from generator import fit
from generator.plan import Plan


def templates_dir() -> Path:
    """The templates shipped in the wheel, else the checkout's `templates/`."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(fitted=fit.fitted, imported=fit.imported, comment=fit.comment)
    return env


class RenderError(Exception):
    """Generated text that does not parse: a bug in spectorgen, never in a spec."""


@dataclasses.dataclass(frozen=True)
class Rendered:
    """The files generated from one spec, by name relative to the output folder."""

    module: str
    files: dict[str, str]


def render(plan: Plan) -> Rendered:
    """Render the module and its SQL; the module must parse before anything is written.

    Raises RenderError (a spectorgen bug) on text that does not parse.
    """
    env = environment()
    module = env.get_template("module.py.j2").render(plan=plan)
    schema = env.get_template("schema.sql.j2").render(plan=plan)
    try:
        ast.parse(module, filename=f"{plan.module}.py")
    except SyntaxError as exc:
        raise RenderError(
            f"generated {plan.module}.py does not parse (line {exc.lineno}): {exc.msg}"
        ) from exc
    return Rendered(
        plan.module, {f"{plan.module}.py": module, f"{plan.module}.sql": schema}
    )
