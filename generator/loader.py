"""Load YAML into plain data while remembering where every value came from.

pydantic reports errors by path (`schemas.2.index`); the marks recorded here turn
that path into `spec.yaml:14:7` so that every diagnostic points at the source.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path as FilePath

import yaml

from generator.errors import Diagnostic, Path, SpecError, format_location

Raw = None | bool | int | float | str | list["Raw"] | dict[str, "Raw"]


@dataclasses.dataclass(frozen=True)
class Marks:
    """1-based line and column of each value (and of each mapping key) by path."""

    file: str
    values: dict[Path, tuple[int, int]]
    keys: dict[Path, tuple[int, int]]

    def at(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The mark of `path`, else of its nearest ancestor that has one."""
        table = self.keys if key and path in self.keys else self.values
        probe = path
        while probe not in table and probe:
            probe = probe[:-1]
        return table.get(probe, (1, 1))

    def diagnostic(self, path: Path, message: str, *, key: bool = False) -> Diagnostic:
        line, column = self.at(path, key=key)
        return Diagnostic(self.file, line, column, format_location(path), message)


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A parsed spec: its text, its plain data tree and the marks of that tree."""

    text: bytes
    data: Raw
    marks: Marks


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.values: dict[Path, tuple[int, int]] = {}
        self.keys: dict[Path, tuple[int, int]] = {}
        self.errors: list[Diagnostic] = []

    def build(self, node: yaml.Node, path: Path) -> Raw:
        self.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Raw] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node)
                line, column = _mark(key_node)
                if not isinstance(key, str):
                    where = format_location(path)
                    self.errors.append(
                        Diagnostic(
                            self.file,
                            line,
                            column,
                            where,
                            f"key {key!r} is not a string",
                        )
                    )
                    continue
                if key in out:
                    where = format_location((*path, key))
                    self.errors.append(
                        Diagnostic(self.file, line, column, where, "duplicate key")
                    )
                    continue
                self.keys[(*path, key)] = (line, column)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node)
        if value is None or isinstance(value, bool | int | float | str):
            return value
        line, column = _mark(node)
        self.errors.append(
            Diagnostic(
                self.file,
                line,
                column,
                format_location(path),
                f"unsupported YAML value of type {type(value).__name__}",
            )
        )
        return None


def load(path: FilePath, display: str) -> Loaded:
    """Parse one spec file; raise SpecError (never yaml's own error) on bad YAML."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SpecError(
            [
                Diagnostic(
                    display, 1, 1, "<document>", f"cannot read spec: {exc.strerror}"
                )
            ]
        ) from None
    return parse(text, display)


def parse(text: bytes, display: str) -> Loaded:
    """Parse spec text (already read) into data and marks."""
    loader = yaml.SafeLoader(text.decode("utf-8", errors="replace"))
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(
                [Diagnostic(display, 1, 1, "<document>", "the spec is empty")]
            )
        builder = _Builder(loader, display)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        raise SpecError(
            [
                Diagnostic(
                    display, line, column, "<document>", f"malformed YAML: {problem}"
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            [Diagnostic(display, 1, 1, "<document>", f"malformed YAML: {exc}")]
        ) from None
    finally:
        loader.dispose()
    if builder.errors:
        raise SpecError(builder.errors)
    if not isinstance(data, dict):
        raise SpecError([_document_error(display, node, "the spec must be a mapping")])
    return Loaded(text, data, Marks(display, builder.values, builder.keys))


def _document_error(display: str, node: yaml.Node, message: str) -> Diagnostic:
    line, column = _mark(node)
    return Diagnostic(display, line, column, "<document>", message)
