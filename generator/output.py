"""Write a generated file set at once, or compare it with what is on disk."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from generator.config import Config, ConfigError, load_config
from generator.headers import generated_from


@dataclasses.dataclass(frozen=True)
class Owners:
    """Which specs this run generates from, to tell an orphan from a neighbour.

    A generated file is orphaned when its spec is one of this run's (the module
    was renamed) or no longer exists; files of other, existing specs are left
    alone even when they share the output folder, and so is a file outside the
    project whose spec is not found (another project's, sharing the folder).
    Without a project (no pyproject.toml), spec paths are relative to the
    working folder, which may differ from the run that wrote a header: only
    the first kind is orphaned.
    """

    root: Path
    specs: frozenset[Path]  # this run's spec files, resolved
    folders: frozenset[Path] = frozenset()  # this run's spec folders
    project: bool = True
    replaced: frozenset[Path] = frozenset()  # codegen.Generated.replaced
    swept: frozenset[Path] = frozenset()  # config.Config.swept

    def orphaned(self, path: Path) -> bool:
        source = generated_from(path)
        if source is None:
            return False
        if not source or path in self.replaced:
            return True  # no spec named, or this run's spec's old module
        if not self.project:
            return False  # a header's path may be from another working folder
        found = spec_file(source, self.root, self.folders)
        if found is None:
            if not path.resolve().is_relative_to(self.root.resolve()):
                # Outside this project (`out = "../shared"`), a header may be a
                # sibling project's, whose root it does not name: never ours.
                return False
            found = _listed_below(source, path, self.root)
            if found is None:
                found = self._nested_spec(source, path)
            return found is None or found in self.specs
        return found in self.specs

    @functools.cached_property
    def _nested(self) -> tuple[Path, ...]:
        """The projects nested in this one, found once a header needs them."""
        return nested_projects(self.root)

    def _nested_spec(self, source: str, path: Path) -> Path | None:
        """The spec a header names, in a project nested in this one that writes
        outside itself (`out = "../gen"`) into the folder of `path`: one whose
        `[tool.spectorgen]` lists the spec and sends its modules there."""
        here = path.parent.resolve()
        for folder in self._nested:
            spec = (folder / source).resolve()
            config = _listing(folder, spec) if spec.is_file() else None
            if config is not None and config.out and config.out.resolve() == here:
                return spec
        return None


_NOT_PROJECTS = frozenset({"node_modules", "__pycache__", "site-packages"})


def nested_projects(root: Path) -> tuple[Path, ...]:
    """Every folder below `root` with a pyproject.toml, in a sorted walk that
    skips hidden folders, virtual environments and installed packages."""
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        # A project missed would have its modules taken for orphans.
        reason = error.strerror or error
        raise WriteError(f"cannot list {error.filename} for nested projects: {reason}")

    for folder, subfolders, names in os.walk(root, onerror=unreadable):
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".") and name not in _NOT_PROJECTS
        )
        if "pyvenv.cfg" in names:
            subfolders.clear()  # a virtual environment
        elif "pyproject.toml" in names and Path(folder) != root:
            found.append(Path(folder).resolve())
    return tuple(found)


def _listed_below(source: str, path: Path, root: Path) -> Path | None:
    """The spec a header names, when another project that holds the file wrote
    it: a project nested in this run's (a monorepo's package) in which the spec
    exists, or a project above it whose `[tool.spectorgen] specs` list it.
    None when no such project has it: the spec is gone."""
    top = root.resolve()
    for folder in path.resolve().parents:
        if folder == top or not (folder / "pyproject.toml").is_file():
            continue
        spec = (folder / source).resolve()
        if not spec.is_file():
            continue
        if folder.is_relative_to(top):
            return spec  # a nested project's spec, listed or named by its runs
        if _listing(folder, spec) is not None:
            return spec
    return None


def _listing(folder: Path, spec: Path) -> Config | None:
    """The configuration of the project in `folder` when its `[tool.spectorgen]
    specs` list `spec` (resolved); None when they do not, or it cannot be read."""
    try:
        config = load_config(folder)
    except ConfigError:
        return None
    return config if spec in {found.resolve() for found in config.specs} else None


def spec_exists(source: str, root: Path, folders: Iterable[Path] = ()) -> bool:
    """Whether the spec a header names is still there."""
    return spec_file(source, root, folders) is not None


def spec_file(source: str, root: Path, folders: Iterable[Path] = ()) -> Path | None:
    """The spec file a header names, resolved, or None when it is gone. A spec
    is named relative to the project's root (`../` outside it); without a
    project, the root was the working folder of the run that wrote the header,
    and headers of older versions named a spec outside it by file name alone:
    those are looked for beside this run's specs too."""
    if not source:
        return None
    if (root / source).is_file():
        return (root / source).resolve()
    if "/" in source:
        return None
    inside = root.resolve()
    for folder in folders:
        if (folder / source).is_file() and not folder.resolve().is_relative_to(inside):
            return (folder / source).resolve()
    return None


def _umask() -> int:
    """The process umask, read without changing it where the system tells it
    (Linux); elsewhere set and restored at once, as the standard library does."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class WriteError(Exception):
    """A file could not be written; no file was replaced."""


def write_all(files: Mapping[Path, str]) -> list[Path]:
    """Write every changed file at once; return the changed paths.

    First each file goes to a temporary sibling; only when all of them are
    written are they renamed over their targets. A failure before that (a full
    disk, a read-only folder, a folder in a file's place) removes the temporary
    files and raises WriteError with nothing replaced. A new file gets the mode
    any new file gets here (0666 less the umask), not the temporary file's 0600;
    a rewritten file keeps the mode it had.
    """
    new_mode = 0o666 & ~_umask()
    with interrupts_deferred():  # staged and renamed as one, then Ctrl-C
        staged = _staged(files, new_mode)
        for path, tmp in staged:
            os.replace(tmp, path)
    return [path for path, _ in staged]


def _staged(files: Mapping[Path, str], new_mode: int) -> list[tuple[Path, str]]:
    """(target, temporary file) of each changed file, written in full; on a
    failure no temporary file is left and WriteError names the target."""
    staged: list[tuple[Path, str]] = []
    path = Path()
    try:
        for path, text in sorted(files.items()):
            data = text.encode("utf-8")
            if path.is_file() and path.read_bytes() == data:
                continue
            mode = stat.S_IMODE(path.stat().st_mode) if path.is_file() else new_mode
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            staged.append((path, tmp))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, mode)
    except BaseException as exc:
        for _, tmp in staged:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, NotADirectoryError | FileExistsError):
            raise WriteError(
                f"cannot write {path}: a file is in a folder's place"
            ) from exc
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    return staged


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C held until the block ends, so that one set of renames finishes
    whole: a module and its SQL never come from two runs of the generator.
    Blocks nest (the inner hands the interrupt to the outer); one that ends in
    an exception still delivers it."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is None:  # None: not Python's
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)  # Python's default raises KeyboardInterrupt
        elif caught and previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)  # the system's default: end the process


@dataclasses.dataclass(frozen=True)
class Drift:
    """How the files on disk differ from what the specs generate."""

    stale: tuple[Path, ...]
    missing: tuple[Path, ...]
    orphaned: tuple[Path, ...]
    diff: str

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.orphaned)


def orphans(files: Mapping[Path, str], owners: Owners) -> list[Path]:
    """The generated files in the output folders that no spec produces any more;
    raises WriteError when a folder cannot be listed (before anything is written,
    as `generate` calls it)."""
    found: list[Path] = []
    for folder in sorted({path.parent for path in files} | owners.swept):
        if not folder.is_dir():
            continue
        try:
            listed = sorted(folder.iterdir())
        except OSError as exc:
            raise WriteError(
                f"cannot list {folder} for orphaned files: {exc.strerror or exc}"
            ) from None
        for path in listed:
            is_output = path.suffix in {".py", ".sql"} and path.is_file()
            if is_output and path not in files and owners.orphaned(path):
                found.append(path)
    return found


def shown_from(path: Path, folder: Path) -> str:
    """`path` as a user in `folder` types it: relative (with `../` when outside),
    in the form `git apply` takes from there."""
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:  # another drive
        return path.as_posix()


def compare(files: Mapping[Path, str], shown: Path, owners: Owners) -> Drift:
    """Stale, missing and orphaned generated files, with a unified diff of each."""
    stale: list[Path] = []
    missing: list[Path] = []
    chunks: list[str] = []

    for path, text in sorted(files.items()):
        if not path.is_file():
            missing.append(path)
            before: list[str] = []
        else:
            # Bytes, as `write_all` compares them: CRLF line ends are drift too.
            raw = path.read_bytes()
            if raw == text.encode("utf-8"):
                continue
            current = raw.decode("utf-8", errors="replace")
            stale.append(path)
            before = current.splitlines(keepends=True)
        chunks.extend(
            difflib.unified_diff(
                before,
                text.splitlines(keepends=True),
                f"a/{shown_from(path, shown)}" if before else "/dev/null",
                f"b/{shown_from(path, shown)}",
            )
        )
    orphaned = orphans(files, owners)
    for path in orphaned:
        current = path.read_text(encoding="utf-8", errors="replace")
        chunks.extend(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                [],
                f"a/{shown_from(path, shown)}",
                "/dev/null",
            )
        )
    return Drift(tuple(stale), tuple(missing), tuple(orphaned), "".join(chunks))


def remove_orphans(
    found: Iterable[Path],
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Delete the generated files `orphans` found: (the removed, each that could
    not be with the system's reason). A failure stops no other removal; `check`
    goes on reporting what is left."""
    removed: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for path in found:
        try:
            path.unlink(missing_ok=True)  # another run's removal is as good
        except OSError as exc:
            failed.append((path, str(exc.strerror or exc)))
        else:
            removed.append(path)
    return removed, failed
