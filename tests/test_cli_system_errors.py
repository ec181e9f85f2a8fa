"""What the system refuses a run (an unreadable file or folder, a name too
long) is an error that names the path and the reason, exit 2 with nothing
written: never a traceback, never files written and then an error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import SPEC, run, snapshot, write


def test_an_output_folder_that_cannot_be_listed_stops_the_run_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its orphans were listed after the files were written: `wrote` lines, a
    traceback, and exit 2 with the files on disk."""
    write(tmp_path / "blog.yaml", SPEC)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    iterdir = Path.iterdir

    def refused(self: Path) -> object:
        if self == out:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", refused)
    code, printed, err = run(capsys, "generate", "blog.yaml", "--out", "out")
    assert code == 2 and printed == "", printed
    assert err == (
        f"spectorgen: cannot list {out} for orphaned files: Permission denied;"
        " nothing written\n"
    )
    assert snapshot(out) == {}


def test_a_file_in_the_output_folder_that_cannot_be_read_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "blog.yaml", SPEC)
    monkeypatch.chdir(tmp_path)
    module = write(tmp_path / "out" / "blog_events.py", "# not spectorgen's\n")
    before = snapshot(tmp_path / "out")
    read_text = Path.read_text
    opened = Path.open

    def refused_read(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == module.name:
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    def refused_open(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == module.name:
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "read_text", refused_read)
    monkeypatch.setattr(Path, "open", refused_open)
    for command in ("generate", "check"):
        code, _, err = run(capsys, command, "blog.yaml", "--out", "out")
        assert code == 2, err
        assert err == (
            f"spectorgen: cannot read {module}: Permission denied; nothing written\n"
        )
    monkeypatch.undo()
    assert snapshot(tmp_path / "out") == before


def test_a_spec_path_with_a_name_too_long_for_the_system_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "generate", f"{'a' * 300}/blog.yaml", "--out", "out")
    assert code == 2
    assert err.startswith("spectorgen: cannot read ") and "aaaa" in err, err
    assert err.endswith(": File name too long; nothing written\n"), err
    assert not (tmp_path / "out").exists()


def test_output_the_system_refuses_after_writing_claims_nothing_unwritten(
    tmp_path: Path,
) -> None:
    """stdout on a full device: the files are written, and the error said
    "nothing written" all the same."""
    write(tmp_path / "blog.yaml", SPEC)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "generator",
                "generate",
                "blog.yaml",
                "--out",
                "out",
            ],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr == "spectorgen: No space left on device\n", done.stderr
    assert (tmp_path / "out" / "blog_events.py").is_file()
