"""The wheel carries its templates and works after a plain, non-editable install.

The wheel is built from a copy of the sources (so nothing in the checkout can
help), installed into a fresh virtual environment, and its `spectorgen` command
runs in a folder far from the checkout. Its output must equal the in-repo
generator's. Needs the package index: `build` fetches hatchling for its isolated
build (unless hatchling is installed here), and pip resolves jinja2, pydantic,
pyyaml and psycopg for the fresh environment.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from generator.codegen import Job, generate
from generator.config import find_pyproject

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "generated_example" / "specs"


def _run(
    args: list[str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"}
    }
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("generator", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    dist = tmp / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist)]
    if importlib.util.find_spec("hatchling") is not None:
        build.append("--no-isolation")  # offline: the backend is already here
    _ok(_run([*build, "."], source))
    wheels = sorted(dist.glob("spectorgen-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.mark.slow
def test_wheel_installs_and_generates_from_anywhere(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(
            n for n in names if n.endswith(".dist-info/entry_points.txt")
        )
        scripts = archive.read(entry_points).decode()
    assert "generator/templates/module.py.j2" in names
    templates = ROOT / "templates"
    for template in templates.rglob("*.j2"):
        packaged = f"generator/templates/{template.relative_to(templates).as_posix()}"
        assert packaged in names, f"{packaged} is missing from the wheel"
    assert "spectorgen = generator.entry:main" in scripts
    assert not any(n.startswith(("tests/", "generated_example/")) for n in names)

    venv = tmp_path / "venv"
    _ok(_run([sys.executable, "-m", "venv", str(venv)], tmp_path))
    python = venv / "bin" / "python"
    _ok(_run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path))

    work = tmp_path / "elsewhere" / "project"
    (work / "specs").mkdir(parents=True)
    for spec in sorted(SPECS.glob("*.yaml")):
        shutil.copy2(spec, work / "specs" / spec.name)
    assert find_pyproject(work) is None, "a pyproject.toml above tmp_path"

    where = _ok(
        _run(
            [
                str(python),
                "-c",
                "import generator, generator.render as r;"
                " print(generator.__file__); print(r.templates_dir())",
            ],
            work,
        )
    ).split()
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where), where
    assert not any(Path(p).resolve().is_relative_to(ROOT) for p in where), where

    spectorgen = str(venv / "bin" / "spectorgen")
    version = _ok(_run([spectorgen, "--version"], work))
    assert version.strip() == "spectorgen " + _project_version()

    specs = sorted(str(p.relative_to(work)) for p in (work / "specs").glob("*.yaml"))
    _ok(_run([spectorgen, "generate", *specs, "--out", "out"], work))
    expected = generate([Job(work / spec, work / "out") for spec in specs], root=work)
    written = sorted(p for p in (work / "out").iterdir() if p.is_file())
    assert written == sorted(expected)
    for path, text in expected.items():
        assert path.read_bytes() == text.encode("utf-8"), f"{path.name} differs"

    (work / "pyproject.toml").write_text(
        '[tool.spectorgen]\nspecs = ["specs/*.yaml"]\nout = "out"\n', encoding="utf-8"
    )
    checked = _run([spectorgen, "check"], work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    nested = work / "specs"
    _ok(_run([spectorgen, "check"], nested))  # config found from a subfolder


def _project_version() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = data["project"]["version"]
    assert isinstance(version, str)
    return version
