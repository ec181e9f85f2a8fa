"""A `[tool.spectorgen] specs` pattern whose every spec was deleted.

A pattern that matches no file is an error (a typo would otherwise generate
nothing, silently), except while files generated from specs it matched are
still there: `check` then reports them orphaned and `generate` removes them, as
it does when one spec of several is deleted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import OTHER, SPEC, run, snapshot, write


def _project(root: Path, specs: str, out: str | None) -> None:
    table = f"specs = [{specs}]\n" + (f'out = "{out}"\n' if out is not None else "")
    write(
        root / "pyproject.toml",
        f'[project]\nname = "app"\n\n[tool.spectorgen]\n{table}',
    )
    write(root / "events" / "blog.yaml", SPEC)
    write(root / "legacy" / "chat.yaml", OTHER)


@pytest.mark.parametrize(
    ("specs", "out", "module"),
    [
        ('"events/*.yaml", "legacy/*.yaml"', "gen", "gen/chat_events.py"),
        ('"events/*.yaml", "legacy/**/*.yaml"', "gen", "gen/chat_events.py"),
        ('"events/*.yaml", "legacy/*.yaml"', None, "legacy/chat_events.py"),
    ],
    ids=["out", "double-star", "beside-the-specs"],
)
def test_the_files_of_a_pattern_s_deleted_specs_are_orphans(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    specs: str,
    out: str | None,
    module: str,
) -> None:
    _project(tmp_path, specs, out)
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "generate")[0] == 0
    orphan = tmp_path / module
    assert orphan.is_file()
    (tmp_path / "legacy" / "chat.yaml").unlink()
    code, _, err = run(capsys, "check")
    assert code == 1, err
    assert f"orphaned: {module}" in err and "matches no file" not in err, err
    code, out_text, err = run(capsys, "generate")
    assert code == 0, err
    assert f"removed orphaned {module}" in out_text, out_text
    assert not orphan.exists() and not orphan.with_suffix(".sql").exists()
    kept = f"{out or 'events'}/blog_events.py"  # the other pattern's spec is there
    assert (tmp_path / kept).is_file() and f"removed orphaned {kept}" not in out_text
    # Nothing is left that the pattern accounts for: it is a stale pattern now.
    code, _, err = run(capsys, "check")
    assert code == 2 and "'legacy/" in err and "matches no file" in err, err


def test_a_project_whose_only_spec_was_deleted_removes_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _project(tmp_path, '"legacy/*.yaml"', "gen")
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "generate")[0] == 0
    (tmp_path / "legacy" / "chat.yaml").unlink()
    before = snapshot(tmp_path / "gen")
    code, _, err = run(capsys, "check")
    assert code == 1 and err.count("orphaned: gen/chat_events.") == 2, err
    assert snapshot(tmp_path / "gen") == before  # check writes nothing
    code, out_text, _ = run(capsys, "generate")
    assert code == 0 and out_text.count("removed orphaned") == 2, out_text
    assert snapshot(tmp_path / "gen") == {}


@pytest.mark.parametrize("pattern", ["legacy/*.yml", "other/*.yaml"])
def test_a_pattern_that_never_matched_those_specs_is_still_an_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pattern: str,
) -> None:
    """The modules left in the folder are of specs the pattern does not match:
    it is a typo, and nothing is written or removed."""
    _project(tmp_path, '"events/*.yaml", "legacy/*.yaml"', "gen")
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "generate")[0] == 0
    (tmp_path / "legacy" / "chat.yaml").unlink()
    _project(tmp_path, f'"events/*.yaml", "{pattern}"', "gen")
    (tmp_path / "legacy" / "chat.yaml").unlink()
    before = snapshot(tmp_path / "gen")
    code, _, err = run(capsys, "generate")
    assert code == 2 and f"'{pattern}' matches no file" in err, err
    assert snapshot(tmp_path / "gen") == before


def test_files_left_outside_the_project_do_not_excuse_the_pattern(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder outside the project (`out = "../shared"`) may be another
    project's too, so no module there is ever an orphan: a module there whose
    header matched the pattern made a typo pass for good, with exit 0."""
    project = tmp_path / "app"
    _project(project, '"events/*.yaml", "legacy/*.yaml"', "../shared")
    monkeypatch.chdir(project)
    assert run(capsys, "generate")[0] == 0
    (project / "legacy" / "chat.yaml").unlink()
    before = snapshot(tmp_path / "shared")
    for command in ("check", "generate"):
        code, _, err = run(capsys, command)
        assert code == 2 and "'legacy/*.yaml' matches no file" in err, err
    assert snapshot(tmp_path / "shared") == before
