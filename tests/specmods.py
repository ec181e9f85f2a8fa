"""Generate a spec's module into a test's folder and import it under a fresh name."""

from __future__ import annotations

import importlib.util
import sys
import types
import uuid
from pathlib import Path

from generator.codegen import Job, generate


def generate_module(
    folder: Path, spec_text: str, loaded: list[str], module: str
) -> types.ModuleType:
    """Write `spec_text` to folder/<module>.yaml, generate beside it, import it."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / f"{module}.yaml"
    spec.write_text(spec_text, encoding="utf-8")
    files = generate([Job(spec, folder)], folder)
    assert set(files) == {folder / f"{module}.py", folder / f"{module}.sql"}
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    name = f"{module}_{uuid.uuid4().hex}"
    found = importlib.util.spec_from_file_location(name, folder / f"{module}.py")
    assert found is not None and found.loader is not None
    imported = importlib.util.module_from_spec(found)
    sys.modules[name] = imported
    loaded.append(name)
    found.loader.exec_module(imported)
    return imported
