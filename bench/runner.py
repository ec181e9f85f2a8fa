"""Command line: pick scenarios, start or reuse a server, run, report."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from bench import batch, codegen_speed, report, single, verify, writers
from bench.env import Config, Context, environment
from bench.stats import ScenarioResult
from tests.embedded_pg import server

RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    steps: Callable[[Context], int]
    run: Callable[[Context], ScenarioResult]


def _scenario(module: ModuleType) -> Scenario:
    return Scenario(module.NAME, module.steps, module.run)


SCENARIOS: tuple[Scenario, ...] = (
    _scenario(single),
    _scenario(batch),
    _scenario(writers),
    _scenario(verify),
    _scenario(codegen_speed),
)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark spectorgen's generated code against its baselines.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fast smoke run with small sizes"
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        choices=[s.name for s in SCENARIOS],
        help="run only this scenario (repeatable): "
        + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="directory for latest.md and latest.png (default: bench/results)",
    )
    return parser.parse_args(argv)


def _stop(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the embedded server is stopped and removed."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _stop)
    config = Config.quick_run() if args.quick else Config()
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    source = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    began = time.perf_counter()
    results: list[ScenarioResult] = []
    failed: list[str] = []
    with server() as admin_url:
        env = environment(admin_url, source)
        print(" | ".join(f"{k}: {v}" for k, v in env.items()), file=sys.stderr)
        with tqdm(total=1, unit="step", dynamic_ncols=True, file=sys.stderr) as bar:

            def tick(status: str) -> None:
                bar.set_postfix_str(status, refresh=False)
                bar.update(1)

            ctx = Context(config, admin_url, tick, local=source == "embedded")
            bar.total = sum(s.steps(ctx) for s in chosen)
            bar.refresh()
            for scenario in chosen:
                bar.set_description(scenario.name)
                start = time.perf_counter()
                try:
                    result = scenario.run(ctx)
                except Exception as exc:  # report it, run the other scenarios
                    traceback.print_exc()
                    failed.append(scenario.name)
                    result = ScenarioResult(scenario.name, f"{scenario.name} (FAILED)")
                    result.notes.append(f"FAILED: {type(exc).__name__}: {exc}")
                result.seconds = time.perf_counter() - start
                results.append(result)
        env["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    elapsed = time.perf_counter() - began
    print(report.console(results))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    png = out / "latest.png"
    report.chart(results, png)
    text = report.markdown(results, env, config, elapsed, png.name)
    (out / "latest.md").write_text(text, encoding="utf-8")
    (out / "latest.json").write_text(report.raw(results, env), encoding="utf-8")
    print(f"\nwrote {out / 'latest.md'} and {png} in {elapsed:.0f} s")
    if failed:
        print(f"FAILED scenarios: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
