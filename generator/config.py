"""Defaults from `[tool.spectorgen]` in the nearest pyproject.toml.

[tool.spectorgen]
specs = ["events/*.yaml"]   # globs, relative to the pyproject.toml folder
out = "src/myapp/events"    # where generated files go (default: beside each spec)
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import tomllib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from generator.headers import generated_from


class ConfigError(Exception):
    """A `[tool.spectorgen]` table that cannot be used; the message says why."""


@dataclasses.dataclass(frozen=True)
class Config:
    root: Path  # the folder paths are relative to; spec paths are shown from here
    specs: tuple[Path, ...]
    out: Path | None
    project: bool = True  # False: no pyproject.toml, the root is a stand-in
    # Folders of files generated from specs a pattern matched and no longer
    # does (deleted): the run looks there for orphans even with no spec left.
    swept: tuple[Path, ...] = ()


def find_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(cwd: Path) -> Config:
    """The project's configuration; an empty one when there is no pyproject.toml."""
    pyproject = find_pyproject(cwd.resolve())
    if pyproject is None:
        return Config(cwd.resolve(), (), None, project=False)
    root = pyproject.parent
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: cannot read: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{pyproject}: [tool] must be a table")
    table = tool.get("spectorgen", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.spectorgen] must be a table")
    unknown = sorted(set(table) - {"specs", "out"})
    if unknown:
        raise ConfigError(f"{pyproject}: [tool.spectorgen]: unknown key {unknown[0]!r}")
    patterns = table.get("specs", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(
            f"{pyproject}: [tool.spectorgen] specs must be a list of globs"
        )
    out = table.get("out")
    if out is not None and not isinstance(out, str):
        raise ConfigError(f"{pyproject}: [tool.spectorgen] out must be a string")
    if out is not None and not out.strip():
        raise ConfigError(
            f"{pyproject}: [tool.spectorgen] out is empty: name a folder"
            ' (out = "." for the project\'s own)'
        )
    for value in (*patterns, out or ""):
        if "\0" in value:
            raise ConfigError(
                f"{pyproject}: [tool.spectorgen]: {value!r} holds a NUL character"
            )
    specs: list[Path] = []
    swept: list[Path] = []
    for pattern in patterns:
        try:
            matches = sorted(p for p in root.glob(pattern) if p.is_file())
        except (ValueError, NotImplementedError) as exc:
            raise ConfigError(
                f"{pyproject}: [tool.spectorgen] specs: bad glob {pattern!r}: {exc}"
            ) from None
        if not matches and (left := _left_behind(root, pattern, out)) is not None:
            swept.append(left)
        elif not matches:
            hint = (
                f" (`**` matches folders: {pattern.rstrip('/')}/*.yaml?)"
                if pattern.rstrip("/").endswith("**")
                else ""
            )
            raise ConfigError(
                f"{pyproject}: [tool.spectorgen] specs: {pattern!r} matches no"
                f" file{hint}"
            )
        specs.extend(matches)
    folder = root / out if out is not None else None
    return Config(root, tuple(specs), folder, swept=tuple(dict.fromkeys(swept)))


def _left_behind(root: Path, pattern: str, out: str | None) -> Path | None:
    """The folder of files generated from specs that `pattern` matched and that
    were deleted since, if it holds any: a pattern whose every spec was deleted
    is then no typo, and those files are orphans for `generate` to remove."""
    beside = PurePosixPath(pattern).parent  # without `out`, the specs' folder
    if out is not None:
        folder = root / out
    elif glob.has_magic(str(beside)):
        return None  # the files went beside their specs: no one folder to look in
    else:
        folder = root / beside
    if not folder.resolve().is_relative_to(root.resolve()) or not folder.is_dir():
        # Outside the project (`out = "../shared"`) no module is taken for an
        # orphan (output.Owners): there, what is left cannot excuse the pattern.
        return None
    for path in sorted(folder.glob("*.py")):
        source = generated_from(path)
        if source and _matched(source, pattern) and not (root / source).exists():
            return folder
    return None


def _matched(source: str, pattern: str) -> bool:
    """Whether a header's spec path (relative to the project) is one `pattern`
    matches; `**/` also matches no folder at all, as in Path.glob."""
    return fnmatch.fnmatchcase(source, pattern) or fnmatch.fnmatchcase(
        source, pattern.replace("**/", "")
    )


def config_for(cwd: Path, specs: Sequence[Path]) -> Config:
    """The configuration of a run. For specs named on the command line: the
    first project whose `[tool.spectorgen] specs` lists them all (the working
    folder's, then those above the specs, nearest first), else the first that
    holds them all, else the working folder's. So a run names each spec as a run
    from the project that generates it does, wherever it starts: the headers, the
    output folder and which modules are orphans do not depend on the folder.
    With no project at all, the working folder stands in (`project` is False)."""
    config = load_config(cwd)
    chosen = [spec.resolve() for spec in specs]
    if not chosen or _lists(config, chosen):
        return config  # the usual case: no project above the specs is read
    found = [config, *_projects_above(chosen[0].parent)]
    for candidate in found[1:]:
        if _lists(candidate, chosen):
            return candidate
    for candidate in found:
        if candidate.project and all(
            spec.is_relative_to(candidate.root) for spec in chosen
        ):
            return candidate
    return config


def _lists(config: Config, specs: Sequence[Path]) -> bool:
    """Whether the project's `[tool.spectorgen] specs` names every one of them."""
    listed = {spec.resolve() for spec in config.specs}
    return config.project and all(spec in listed for spec in specs)


def _projects_above(folder: Path) -> list[Config]:
    """The projects whose pyproject.toml is in `folder` or above it, nearest
    first; one whose configuration cannot be used is passed over."""
    out: list[Config] = []
    for parent in (folder, *folder.parents):
        if (parent / "pyproject.toml").is_file():
            try:
                out.append(load_config(parent))
            except ConfigError:
                continue
    return out
