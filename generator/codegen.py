"""The whole pipeline for a set of specs: load, validate, plan, render.

Everything happens in memory; callers write the result only when every spec
succeeded, so one bad spec writes no file at all.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from generator import __version__
from generator.compat import (
    breaking_changes,
    cautions,
    module_layout,
    plan_layout,
)
from generator.errors import Diagnostic, SpecError, format_location, more_names
from generator.errors import Path as ErrorPath
from generator.headers import MARKERS, generated_from, same_header
from generator.loader import Loaded, load
from generator.output import spec_exists, spec_file
from generator.plan import Plan, plan
from generator.render import render
from generator.validate import validate


@dataclasses.dataclass(frozen=True)
class Job:
    """One spec and the folder its files go to."""

    spec: Path
    out: Path


def _imports_itself(planned: Plan, out: Path) -> Path | None:
    """The generated module's path when the shard function is named by the
    module's own package path (`app.events.m` for `module: m` written to
    `app/events/`): a circular import at the module's top."""
    *package, last = planned.shard.module.split(".")
    if planned.shard.kind != "function" or not package or last != planned.module:
        return None
    folder = out.resolve()
    if folder.parts[len(folder.parts) - len(package) :] != tuple(package):
        return None
    return folder / f"{planned.module}.py"


def display_path(path: Path, root: Path) -> str:
    """The spec path as written in headers: relative to the project, POSIX style
    (`../` for a spec outside it: two specs of one name in two folders stay
    apart)."""
    resolved = path.resolve()
    try:
        return Path(os.path.relpath(resolved, root.resolve())).as_posix()
    except ValueError:  # another drive
        return resolved.name


def generate(
    jobs: Sequence[Job],
    root: Path,
    version: str = __version__,
    *,
    guard: bool = False,
    project: bool = True,
) -> dict[Path, str]:
    """Every generated file by path; raises SpecError with all problems of all specs.

    With `guard`, a spec change that would misread the events its module on disk
    was made for (compat.breaking_changes) is one of those problems.
    """
    return generate_all(jobs, root, version, guard=guard, project=project).files


@dataclasses.dataclass(frozen=True)
class Generated:
    files: dict[Path, str]
    replaced: frozenset[Path]  # modules (and their SQL) made from these specs
    # under another name before: orphans of this run
    # Changes written although the module on disk says they may misread stored
    # events: breaking ones without `guard`, and those only user code decides.
    warnings: tuple[Diagnostic, ...] = ()


def generate_all(
    jobs: Sequence[Job],
    root: Path,
    version: str = __version__,
    *,
    guard: bool = False,
    project: bool = True,
) -> Generated:
    """`generate`, with the files a renamed module leaves behind. Without a
    project (`project` False), spec paths in headers are relative to whichever
    folder a run started in: a module under another name is then this spec's
    only when it is of the same table as well."""
    files: dict[Path, str] = {}
    replaced: set[Path] = set()
    owners: dict[Path, str] = {}
    problems: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    sql_owners: dict[tuple[str, str], tuple[str, ErrorPath]] = {}
    ours = {job.spec.resolve() for job in jobs}
    folders = {job.spec.parent for job in jobs}
    headers: dict[Path, dict[Path, str | None]] = {}  # output folder's, read once
    for job in jobs:
        shown = display_path(job.spec, root)
        if (unsafe := _unsafe_path(shown)) is not None:
            problems.append(unsafe)
            continue
        try:
            loaded = load(job.spec, shown)
            spec = validate(loaded)
            planned = plan(spec, loaded, spec_path=shown, generator_version=version)
            rendered = render(planned)
        except SpecError as exc:
            problems.extend(exc.diagnostics)
            continue
        if job.out not in headers:
            headers[job.out] = _headers(job.out)
        recorded = _recorded(
            job.out,
            headers[job.out],
            planned,
            job.spec.resolve(),
            root,
            folders,
            project,
        )
        if recorded is not None and recorded.stem != planned.module:
            replaced.update((recorded, recorded.with_suffix(".sql")))
        module_text = rendered.files[f"{planned.module}.py"]
        breaking, cautioned = _compared(recorded, module_text, planned, loaded, guard)
        (problems if guard else warnings).extend(breaking)
        warnings.extend(cautioned)
        problems.extend(_sql_clashes(planned, loaded, sql_owners))
        package = job.out / planned.module
        if any(package.glob("__init__.*")):
            problems.append(
                loaded.marks.diagnostic(
                    ("module",),
                    f"{display_path(package, root)} is a package, which `import`"
                    f" finds before {planned.module}.py: rename `module`",
                )
            )
            continue
        if (home := _imports_itself(planned, job.out)) is not None:
            problems.append(
                loaded.marks.diagnostic(
                    ("shard", "function"),
                    f"{planned.shard.module!r} is {display_path(home, root)}, the"
                    " generated module itself: it imports the shard function at its"
                    " top, so the function must live in another importable module",
                )
            )
            continue
        for name, text in rendered.files.items():
            target = job.out / name
            if target in owners:
                problems.append(
                    loaded.marks.diagnostic(
                        ("module",), f"{name} is also generated from {owners[target]}"
                    )
                )
                continue
            source = generated_from(target)
            if (
                source is not None
                and (found := spec_file(source, root, folders)) is not None
                and found not in ours
            ):
                problems.append(
                    loaded.marks.diagnostic(
                        ("module",),
                        f"{target.name} on disk is generated from {source}, another"
                        " spec: two logs would share one module; rename `module`",
                    )
                )
                continue
            if _foreign(target):
                problems.append(
                    loaded.marks.diagnostic(
                        ("module",),
                        f"{display_path(target, root)} exists and spectorgen did not"
                        " write it (it has no spectorgen header): rename `module`, or"
                        " move that file away",
                    )
                )
                continue
            owners[target] = shown
            files[target] = text
    if problems:
        raise SpecError(problems)
    return Generated(files, frozenset(replaced), tuple(sorted(warnings)))


def _unsafe_path(shown: str) -> Diagnostic | None:
    """The spec's path goes into the generated files' headers and SPEC_PATH: a
    line break, another control character, a quote or a backslash in it would
    break them (or hide in them)."""
    bad = [c for c in shown if c in '"\\' or not c.isprintable()]
    if not bad:
        return None
    return Diagnostic(
        repr(shown)[1:-1],
        1,
        1,
        "<document>",
        f"the spec's file name holds {bad[0]!r}, which the generated header"
        " cannot show: rename the file",
    )


def _sql_clashes(
    planned: Plan,
    loaded: Loaded,
    sql_owners: dict[tuple[str, str], tuple[str, ErrorPath]],
) -> list[Diagnostic]:
    """One error per spec location whose derived SQL names another spec of this
    run derived first (recording this spec's names in `sql_owners`)."""
    shown = planned.spec_path
    clashes: dict[tuple[ErrorPath, str, ErrorPath], list[str]] = {}
    for key, where in planned.sql_names:
        other = sql_owners.setdefault(key, (shown, where))
        if other[0] != shown:
            clashes.setdefault((where, *other), []).append(key[1])
    out: list[Diagnostic] = []
    for (where, other_spec, other_where), names in clashes.items():
        out.append(
            loaded.marks.diagnostic(
                where,
                f"derived name {names[0]!r}{more_names(len(names) - 1)}"
                " is also derived from"
                f" {other_spec} ({format_location(other_where)}): the two logs"
                " would share PostgreSQL objects",
            )
        )
    return out


def _headers(folder: Path) -> dict[Path, str | None]:
    """The spec each module in `folder` names in its header (None: not ours)."""
    if not folder.is_dir():
        return {}
    return {path: generated_from(path) for path in sorted(folder.glob("*.py"))}


def _recorded(
    folder: Path,
    modules: dict[Path, str | None],
    planned: Plan,
    spec: Path,
    root: Path,
    folders: Iterable[Path],
    project: bool = True,
) -> Path | None:
    """The module on disk generated from this spec: the one whose header names
    it (under the module's name, or the name it had before `module` was
    renamed), else the one under its name made from a spec that no longer
    exists (this spec moved), or left with merge conflict markers, else the
    only module of the same table in the folder whose spec no longer exists
    (this spec moved and its module renamed at once). `modules` holds the
    folder's headers (`_headers`)."""
    named = folder / f"{planned.module}.py"
    for path in [named, *modules]:
        source = modules.get(path)
        if not (
            source == planned.spec_path
            or (source and spec_file(source, root, folders) == spec)
        ):
            continue
        if project or path == named or _table_of(path) == planned.table:
            return path
    source = modules.get(named)
    if source is not None and not spec_exists(source, root, folders):
        return named
    if source is None and named.is_file() and _conflicted(named):
        return named
    gone = [
        path
        for path, source in modules.items()
        if source is not None
        and not spec_exists(source, root, folders)
        and _table_of(path) == planned.table
    ]
    return gone[0] if len(gone) == 1 else None


def _table_of(module: Path) -> str | None:
    """The events table a generated module was made for (None if unreadable)."""
    try:
        layout = module_layout(module.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError):
        return None
    return None if layout is None else layout.table


def _foreign(target: Path) -> bool:
    """Something in a generated file's place that spectorgen did not write: a
    hand-written module of the same name, a folder. Never overwritten."""
    if not target.exists():
        return False
    if not target.is_file():
        return True
    return generated_from(target) is None and not _conflicted(target)


def _conflicted(path: Path) -> bool:
    """A generated module whose first line a merge replaced with a marker."""
    head = path.read_text(encoding="utf-8", errors="replace")[:2000]
    return "<<<<<<< " in head and MARKERS[0] in head


def _compared(
    module: Path | None, text: str, planned: Plan, loaded: Loaded, guard: bool
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(breaking changes, cautions) of the module `text` against the module on
    disk. A breaking change is worded as the error it is with `guard`, else as
    written anyway."""
    if module is None:
        return [], []  # no module yet, or not one of ours
    on_disk = module.read_text(encoding="utf-8", errors="replace")
    try:
        old = module_layout(on_disk)
    except SyntaxError as exc:
        # Not silently skipped: a merge left conflict markers in it, say.
        where = f"line {exc.lineno}: " if exc.lineno else ""  # none for a NUL byte
        said = (
            "cannot be checked against what the log stored: restore it (resolve"
            " the merge), or pass --allow-breaking"
            if guard
            else "was not checked against what the log stored (--allow-breaking)"
        )
        return [
            loaded.marks.diagnostic(
                ("module",),
                f"{module.name}, generated from this spec, does not parse"
                f" ({where}{exc.msg}), so the change {said}",
            )
        ], []
    if old is None:
        return [], []  # it parses but holds no layout (edited by hand): no record
    new = plan_layout(planned)
    said = (
        "(--allow-breaking generates it anyway)"
        if guard
        else "(generated anyway: it needs a data migration)"
    )
    changes = list(breaking_changes(old, new, planned))
    if changes and same_header(on_disk, text):
        # The spec is the one the module was made from: the module on disk was
        # edited (or made by another build of this version). What it says is
        # still what the log may have stored under, so it is still refused,
        # but the spec is not blamed.
        return [
            loaded.marks.diagnostic(
                ("module",),
                f"{module.name} was changed since this spec, unchanged, generated"
                f" it (edited by hand?): {message}; if no events were stored"
                f" under the change, restore the file {said}",
            )
            for _, message in changes
        ], []
    breaking = [
        _breaking_at(loaded, where, f"{message} {said}") for where, message in changes
    ]
    return breaking, [
        _breaking_at(loaded, where, message) for where, message in cautions(old, new)
    ]


def _breaking_at(loaded: Loaded, where: ErrorPath, message: str) -> Diagnostic:
    """At the key the change is about; a top-level key the spec left out (a
    default such as `hashed: false`) is reported beside `table`."""
    marks = loaded.marks
    if len(where) == 1 and where not in marks.values:
        line, column = marks.at(("table",))
        return Diagnostic(marks.file, line, column, format_location(where), message)
    return marks.diagnostic(where, message)
