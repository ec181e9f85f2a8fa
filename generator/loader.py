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


MAX_VALUES = 500_000  # far past any real spec; stops alias bombs early
MAX_DEPTH = 16  # a spec is 4 levels deep; each value keeps its path, so a deep
# alias bomb would cost MAX_VALUES times its depth in memory before MAX_VALUES


class _Loader(yaml.SafeLoader):
    """A SafeLoader that remembers where each alias is used. PyYAML hands the
    anchored node itself to every use, with the anchor's marks: an error about
    the use (`table: *n`) would point at the anchor."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # (id of the parent node, id of the key node or the item's index) ->
        # where the alias stands; a key that is an alias is found by its pair's
        # position in the mapping, since PyYAML composes it with index None.
        self.aliases: dict[tuple[int, int], tuple[int, int]] = {}
        self.key_aliases: dict[tuple[int, int], tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        start = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        node = super().compose_node(parent, index)  # type: ignore[arg-type]
        at = (start.line + 1, start.column + 1)
        if index is None and isinstance(parent, yaml.MappingNode):
            # the key of the pair about to be appended to parent.value
            self.key_aliases[id(parent), len(parent.value)] = at
            return node
        place = id(index) if isinstance(index, yaml.Node) else index
        if isinstance(place, int):
            self.aliases[id(parent), place] = at
        return node


class _Builder:
    def __init__(self, loader: _Loader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.values: dict[Path, tuple[int, int]] = {}
        self.keys: dict[Path, tuple[int, int]] = {}
        self.errors: list[Diagnostic] = []
        self.active: set[int] = set()  # collections being built: alias cycles

    def error(self, at: tuple[int, int], path: Path, message: str) -> None:
        line, column = at
        self.errors.append(
            Diagnostic(self.file, line, column, format_location(path), message)
        )

    def build(
        self, node: yaml.Node, path: Path, alias: tuple[int, int] | None = None
    ) -> Raw:
        """The value of `node` at `path`. Under an alias, every mark of the
        value is the alias's: the text that uses it, not the anchor's."""
        if len(self.values) >= MAX_VALUES:
            raise _TooLarge(node, f"the spec has more than {MAX_VALUES} values")
        if len(path) > MAX_DEPTH:
            raise _TooLarge(node, f"the spec is nested more than {MAX_DEPTH} levels")
        at = alias or _mark(node)
        self.values[path] = at
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            kind = "map" if isinstance(node, yaml.MappingNode) else "seq"
            if node.tag != f"tag:yaml.org,2002:{kind}":  # !!set, !!python/...
                self.error(at, path, f"unsupported YAML tag {_shown_tag(node.tag)}")
                return None
            if id(node) in self.active:
                self.error(at, path, "recursive YAML alias")
                return None
            self.active.add(id(node))
            try:
                if isinstance(node, yaml.MappingNode):
                    return self._mapping(node, path, alias)
                return [
                    self.build(item, (*path, i), self._use(node, i, alias))
                    for i, item in enumerate(node.value)
                ]
            finally:
                self.active.discard(id(node))
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError:
            raise
        except Exception as exc:  # PyYAML raises bare errors for bad tagged scalars
            self.error(at, path, f"invalid value: {exc}")
            return None
        if value is None or isinstance(value, bool | int | float | str):
            return value
        self.error(at, path, f"unsupported YAML value of type {type(value).__name__}")
        return None

    def _use(
        self, parent: yaml.Node, place: int, alias: tuple[int, int] | None
    ) -> tuple[int, int] | None:
        """The mark for a child: the enclosing alias's, else its own alias's."""
        return alias or self.loader.aliases.get((id(parent), place))

    def _mapping(
        self, node: yaml.MappingNode, path: Path, alias: tuple[int, int] | None
    ) -> Raw:
        out: dict[str, Raw] = {}
        for i, (key_node, value_node) in enumerate(node.value):
            used = self.loader.key_aliases.get((id(node), i))
            key_at = alias or used or _mark(key_node)
            key = self._key(key_node, key_at, path)
            if key is None:
                continue
            if key in out:
                self.error(key_at, (*path, key), "duplicate key")
                continue
            self.keys[(*path, key)] = key_at
            value_at = self._use(node, id(key_node), alias)
            out[key] = self.build(value_node, (*path, key), value_at)
        return out

    def _key(self, node: yaml.Node, at: tuple[int, int], path: Path) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:merge":
            self.error(
                at, path, "YAML merge keys (<<) are not supported: write the keys out"
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                key = self.loader.construct_object(node, deep=True)
            except Exception as exc:
                self.error(at, path, f"invalid key: {exc}")
                return None
            if isinstance(key, str):
                return key
            self.error(at, path, f"key {key!r} is not a string")
            return None
        self.error(at, path, "a key must be a plain string")
        return None


def _shown_tag(tag: str) -> str:
    """A tag as the spec writes it: `!!set` for the YAML types, else as is."""
    core = "tag:yaml.org,2002:"
    return f"!!{tag.removeprefix(core)}" if tag.startswith(core) else tag


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        self.node = node
        self.message = message


def load(path: FilePath, display: str) -> Loaded:
    """Parse one spec file; raise SpecError (never yaml's own error) on bad YAML."""
    try:
        if path.exists() and not path.is_file():  # a FIFO would block the read
            raise IsADirectoryError(0, "not a regular file")
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


def _fail(display: str, line: int, column: int, message: str) -> SpecError:
    return SpecError([Diagnostic(display, line, column, "<document>", message)])


def parse(text: bytes, display: str) -> Loaded:
    """Parse spec text (already read) into data and marks; SpecError on any problem."""
    try:
        source = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            display, 1, 1, f"the spec is not UTF-8 text ({exc.reason})"
        ) from None
    try:
        loader = _Loader(source)
    except yaml.reader.ReaderError as exc:
        line, column = _position(source, exc.position)
        raise _fail(display, line, column, f"malformed YAML: {exc.reason}") from None
    builder = _Builder(loader, display)
    try:
        node = loader.get_single_node()
        if node is None or (isinstance(node, yaml.ScalarNode) and node.value == ""):
            raise _fail(display, 1, 1, "the spec is empty")
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        opened = exc.context_mark
        if exc.problem and exc.context and opened and opened is not mark:
            # "expected ',' or ']'" at the end of the file: say where it began.
            problem += (
                f" ({exc.context} at line {opened.line + 1},"
                f" column {opened.column + 1})"
            )
        raise _fail(display, line, column, f"malformed YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line, column = _position(source, exc.position)
        raise _fail(display, line, column, f"malformed YAML: {exc.reason}") from None
    except yaml.YAMLError as exc:
        raise _fail(display, 1, 1, f"malformed YAML: {exc}") from None
    except _TooLarge as exc:
        line, column = _mark(exc.node)
        raise _fail(display, line, column, exc.message) from None
    except RecursionError:
        raise _fail(display, 1, 1, "the spec is nested too deeply") from None
    finally:
        loader.dispose()
    if builder.errors:
        raise SpecError(builder.errors)
    if not isinstance(data, dict):
        raise SpecError([_document_error(display, node, "the spec must be a mapping")])
    return Loaded(text, data, Marks(display, builder.values, builder.keys))


def _position(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _document_error(display: str, node: yaml.Node, message: str) -> Diagnostic:
    line, column = _mark(node)
    return Diagnostic(display, line, column, "<document>", message)
