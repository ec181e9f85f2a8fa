"""Scenario `generator`: the generator's speed and the cost of its output.

- `generator.codegen.generate` on specs of growing size (written to a temp dir);
  the slope of log(time) over log(schemas) says how it grows (1.0 is linear);
- `python -X importtime` of a generated module against `import json`, each in a
  fresh interpreter;
- `python -m mypy --strict` with a fresh cache on a generated module against a
  trivial module.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.env import Context
from bench.stats import ScenarioResult, loglog_slope, ratios, rotated, timed
from generator.codegen import Job, generate

NAME = "generator"
TITLE = "5. Generator, import and type-check cost"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "generated_example" / "blog_events.py"


def spec_text(schemas: int) -> str:
    """A valid spec: every fourth schema declares its own action, every 20th also
    `publish` (shared). Denser actions would pass the loader's cap of 10,000
    YAML values at 5,000 schemas (a schema with one action is 4 values)."""
    lines = ["version: 1", "module: big_events", "table: big_events", "hashed: true"]
    lines.append("schemas:")
    for i in range(schemas):
        actions = [f"act_{i}"] if i % 4 == 0 else []
        if i % 20 == 0:
            actions.append("publish")
        if actions:
            lines.append(f"  - name: S{i}")
            lines.append(f"    actions: [{', '.join(actions)}]")
        else:
            lines.append(f"  - S{i}")
    return "\n".join(lines) + "\n"


def steps(ctx: Context) -> int:
    cfg = ctx.config
    return cfg.total_rounds * (len(cfg.gen_sizes) + 2 + 2)


def _importtime(workdir: Path, module: str) -> float:
    """Cumulative import time of `module` in a fresh interpreter, in seconds.

    Bytecode caching stays on (as in any deployment): the warm-up round writes it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    pattern = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$")
    for line in proc.stderr.splitlines():
        if match := pattern.match(line):
            return int(match.group(1)) / 1e6
    raise RuntimeError(f"no importtime line for {module}:\n{proc.stderr}")


def _mypy(workdir: Path, filename: str) -> float:
    cache = tempfile.mkdtemp(prefix="mypy-cache-", dir=workdir)
    try:
        cmd = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache]
        cmd += ["--no-error-summary", filename]
        return timed(lambda: subprocess.run(cmd, cwd=workdir, check=True))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def run(ctx: Context) -> ScenarioResult:
    cfg = ctx.config
    result = ScenarioResult(NAME, TITLE)
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        work = Path(tmp)
        specs: dict[int, Path] = {}
        for n in cfg.gen_sizes:
            specs[n] = work / f"spec_{n}.yaml"
            specs[n].write_text(spec_text(n), encoding="utf-8")
        gen_times: dict[int, list[float]] = {n: [] for n in cfg.gen_sizes}
        for round_no in range(cfg.total_rounds):
            for label in rotated([str(n) for n in cfg.gen_sizes], round_no):
                n = int(label)
                job = Job(specs[n], work / f"out_{n}")
                seconds = timed(functools.partial(generate, [job], work))
                ctx.tick(f"{NAME} generate {n:,}")
                if round_no >= cfg.warmup:
                    gen_times[n].append(seconds)
        for n in cfg.gen_sizes:
            result.figure(f"generate, {n:,} schemas", "s", gen_times[n])
        sizes = list(cfg.gen_sizes)
        medians = [sorted(gen_times[n])[len(gen_times[n]) // 2] for n in sizes]
        per_round = [
            loglog_slope(sizes, [gen_times[n][r] for n in sizes])
            for r in range(cfg.rounds)
        ]
        result.series["generate() seconds by schemas"] = [
            (float(n), m) for n, m in zip(sizes, medians, strict=True)
        ]
        result.target(
            f"generate: log-log slope over {sizes[0]:,}..{sizes[-1]:,} schemas",
            1.15,
            per_round,
            better="lower",
            unit="",
            note="1.0 is linear",
        )
        top = [
            math.log(gen_times[sizes[-1]][r] / gen_times[sizes[-2]][r])
            / math.log(sizes[-1] / sizes[-2])
            for r in range(cfg.rounds)
        ]
        result.target(
            f"generate: slope of the top step {sizes[-2]:,} -> {sizes[-1]:,}",
            1.15,
            top,
            better="lower",
            unit="",
            note="fixed costs hide less here",
        )
        result.notes.append(
            "generate() medians: "
            + ", ".join(
                f"{n:,}: {m * 1e3:.0f} ms" for n, m in zip(sizes, medians, strict=True)
            )
            + "; per schema: "
            + ", ".join(
                f"{m / n * 1e6:.0f} us" for n, m in zip(sizes, medians, strict=True)
            )
        )

        shutil.copy(EXAMPLE, work / "blog_events.py")
        (work / "trivial.py").write_text("x: int = 1\n", encoding="utf-8")
        imports: dict[str, list[float]] = {"blog_events": [], "json": []}
        checks: dict[str, list[float]] = {"blog_events.py": [], "trivial.py": []}
        for round_no in range(cfg.total_rounds):
            for module in rotated(list(imports), round_no):
                seconds = _importtime(work, module)
                ctx.tick(f"{NAME} import {module}")
                if round_no >= cfg.warmup:
                    imports[module].append(seconds)
            for filename in rotated(list(checks), round_no):
                seconds = _mypy(work, filename)
                ctx.tick(f"{NAME} mypy {filename}")
                if round_no >= cfg.warmup:
                    checks[filename].append(seconds)
        result.figure("import generated blog_events", "s", imports["blog_events"])
        result.figure("import json", "s", imports["json"])
        result.figure(
            "import ratio blog_events / json",
            "x",
            ratios(imports["blog_events"], imports["json"]),
        )
        result.figure("mypy --strict blog_events.py", "s", checks["blog_events.py"])
        result.figure("mypy --strict trivial.py", "s", checks["trivial.py"])
        result.figure(
            "mypy ratio blog_events / trivial",
            "x",
            ratios(checks["blog_events.py"], checks["trivial.py"]),
        )
        psycopg_share = _importtime(work, "psycopg")
        result.notes.append(
            f"import times are `-X importtime` cumulative figures (bytecode cached"
            f" after the warm-up); psycopg alone: {psycopg_share * 1e3:.0f} ms."
            " mypy: fresh --cache-dir per run, wall time of the subprocess."
        )
    return result
