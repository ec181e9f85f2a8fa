"""`spectorgen`: generate typed event-log modules from YAML specs, or check them.

Exit status: 0 success (check: up to date), 1 check found drift, 2 error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from generator import __version__
from generator.codegen import Job, generate, generate_all
from generator.config import Config, ConfigError, config_for
from generator.entry import EXIT_INTERRUPTED
from generator.errors import SpecError
from generator.output import (
    Owners,
    WriteError,
    compare,
    interrupts_deferred,
    orphans,
    remove_orphans,
    shown_from,
    write_all,
)

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2

DESCRIPTION = """\
Generate a typed, static Python module (and its SQL) for an append-only event log
from a YAML spec. Run with no SPEC in a project whose pyproject.toml has

    [tool.spectorgen]
    specs = ["events/*.yaml"]
    out = "src/myapp"

or name specs directly: `spectorgen generate events/blog.yaml --out src/myapp`.
"""

EPILOG = """\
exit status: 0 success or up to date, 1 `check` found drift, 2 error in a spec,
the configuration or the command line, or a change that would misread stored
events (nothing is written on error).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectorgen",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"spectorgen {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in (
        ("generate", "write the generated modules and SQL files"),
        (
            "check",
            "exit 1 with a diff when generated files are stale, missing "
            "or orphaned; write nothing",
        ),
    ):
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument(
            "specs",
            nargs="*",
            metavar="SPEC",
            type=Path,
            help="spec files (default: [tool.spectorgen] specs in pyproject.toml)",
        )
        sub.add_argument(
            "--out",
            type=Path,
            metavar="DIR",
            help="output folder (default: [tool.spectorgen] out, else the spec's)",
        )
        if name == "generate":
            sub.add_argument(
                "--allow-breaking",
                action="store_true",
                help="write even a change that would misread the events stored"
                " under the module on disk (a renumbered schema, a dropped action"
                " code, another shard layout): it needs a data migration",
            )
    return parser


def _jobs(config: Config, specs: Sequence[Path], out: Path | None) -> list[Job]:
    chosen = [p.resolve() for p in specs or config.specs]
    folder = out.resolve() if out is not None else config.out
    # A spec named twice (overlapping globs) is one job, not a clash with itself.
    unique = dict.fromkeys(chosen)
    return [Job(spec, folder or spec.parent) for spec in unique]


class ReadError(Exception):
    """A file or folder the run must read before it writes, and may not."""


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Everything a run reads comes before its first write: an OSError here
    is a path the system refused, and nothing is written yet."""
    try:
        yield
    except OSError as exc:
        what = f"cannot read {exc.filename}: " if exc.filename else ""
        raise ReadError(f"{what}{exc.strerror or exc}") from None


def _run(args: argparse.Namespace) -> int:
    with _reading():
        try:
            cwd = Path.cwd()
        except FileNotFoundError:
            raise ConfigError("the working folder no longer exists") from None
        config = config_for(cwd, args.specs)
        jobs = _jobs(config, args.specs, args.out)
        if not jobs and not config.swept:
            print(
                "spectorgen: no spec given: pass SPEC paths or set"
                " [tool.spectorgen] specs in pyproject.toml",
                file=sys.stderr,
            )
            return EXIT_ERROR
        guard = args.command == "generate" and not args.allow_breaking
        done = generate_all(jobs, config.root, guard=guard, project=config.project)
        files = done.files
        owners = Owners(
            config.root,
            frozenset(job.spec.resolve() for job in jobs),
            frozenset(job.spec.parent for job in jobs),
            config.project,
            done.replaced,
            frozenset(config.swept),
        )
        if args.command == "check":
            return _check(files, owners, cwd, jobs, config)
        left = orphans(files, owners)  # listed first: an unlistable folder stops all
    with interrupts_deferred():  # Ctrl-C once what was written is said
        changed = write_all(files)
        for warning in done.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for path in changed:
            print(f"wrote {shown_from(path, cwd)}")
        removed, failed = remove_orphans(left)
        for path in removed:
            print(f"removed orphaned {shown_from(path, cwd)}")
        for path, reason in failed:  # the files are written; `check` reports the rest
            where = shown_from(path, cwd)
            message = f"cannot remove orphaned {where}: {reason}: remove it by hand"
            print(f"warning: {message}", file=sys.stderr)
    print(f"spectorgen: {len(files)} files, {len(changed) + len(removed)} changed")
    return EXIT_OK


def _check(
    files: dict[Path, str],
    owners: Owners,
    cwd: Path,
    jobs: Sequence[Job],
    config: Config,
) -> int:
    drift = compare(files, cwd, owners)
    if drift.clean:
        print(f"spectorgen: {len(files)} generated files up to date")
        return EXIT_OK
    sys.stdout.write(drift.diff)
    for label, paths in (
        ("stale", drift.stale),
        ("missing", drift.missing),
        ("orphaned", drift.orphaned),
    ):
        for path in paths:
            print(f"spectorgen: {label}: {shown_from(path, cwd)}", file=sys.stderr)
    print("spectorgen: run `spectorgen generate` to update", file=sys.stderr)
    _would_refuse(jobs, config)
    return EXIT_DRIFT


def _would_refuse(jobs: Sequence[Job], config: Config) -> None:
    """Say so when `generate` would refuse the drift: a reviewer reading CI's
    output learns the change would misread stored events before anyone runs it."""
    try:
        generate(jobs, config.root, guard=True, project=config.project)
    except SpecError as exc:
        print(
            "spectorgen: `generate` would refuse this change, which would misread"
            " stored events (--allow-breaking writes it anyway):",
            file=sys.stderr,
        )
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `spectorgen` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return _run(args)
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        count = len(exc.diagnostics)
        print(
            f"spectorgen: {count} error{'s' * (count != 1)}, nothing written",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except ConfigError as exc:
        print(f"spectorgen: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (WriteError, ReadError) as exc:
        print(f"spectorgen: {exc}; nothing written", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        # After the files were written (stdout on a full disk, say): the
        # system's reason, not a traceback, and no claim that nothing was.
        print(f"spectorgen: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        # Files are replaced together or not at all (output.write_all).
        print("spectorgen: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        print(
            "spectorgen: internal error (a bug in spectorgen; please report it)",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
