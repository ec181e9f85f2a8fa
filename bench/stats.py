"""Samples, their summaries and the figures and targets a scenario reports."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypeVar

Better = Literal["higher", "above", "lower"]  # >=, >, <=
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    """Median and spread of repeated measurements (one value per round)."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples")
        return cls(tuple(samples))

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def iqr(self) -> tuple[float, float]:
        """First and third quartiles (inclusive method; min/max below 4 samples)."""
        if len(self.samples) < 4:
            return self.low, self.high
        q = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q[0], q[2]


@dataclasses.dataclass(frozen=True, slots=True)
class Figure:
    """One measured quantity: e.g. hashed single inserts in events/s."""

    scenario: str
    label: str
    unit: str
    summary: Summary


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A goal from the issue, its measured value (per-round) and the verdict."""

    scenario: str
    goal: str
    threshold: float
    better: Better
    summary: Summary
    unit: str = "x"
    note: str = ""

    def _meets(self, value: float) -> bool:
        if self.better == "higher":
            return value >= self.threshold
        if self.better == "above":
            return value > self.threshold
        return value <= self.threshold

    @property
    def met(self) -> bool:
        return self._meets(self.summary.median)

    @property
    def steady(self) -> bool:
        """Whether every round met the target, not just the median."""
        worst = self.summary.high if self.better == "lower" else self.summary.low
        return self._meets(worst)

    @property
    def status(self) -> str:
        return "MET" if self.met else "MISSED"

    @property
    def rule(self) -> str:
        sign = {"higher": ">=", "above": ">", "lower": "<="}[self.better]
        return f"{sign} {self.threshold:g}{self.unit}"


@dataclasses.dataclass(slots=True)
class ScenarioResult:
    """Everything one scenario measured, plus free-form notes for the report."""

    name: str
    title: str
    figures: list[Figure] = dataclasses.field(default_factory=list)
    targets: list[Target] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    # x, median y: curves to plot on log-log axes (e.g. generate time by size)
    series: dict[str, list[tuple[float, float]]] = dataclasses.field(
        default_factory=dict
    )

    def figure(self, label: str, unit: str, samples: Sequence[float]) -> Summary:
        summary = Summary.of(samples)
        self.figures.append(Figure(self.name, label, unit, summary))
        return summary

    def target(
        self,
        goal: str,
        threshold: float,
        samples: Sequence[float],
        *,
        better: Better = "higher",
        unit: str = "x",
        note: str = "",
    ) -> Target:
        target = Target(
            self.name, goal, threshold, better, Summary.of(samples), unit, note
        )
        self.targets.append(target)
        return target


def ratios(numerator: Sequence[float], denominator: Sequence[float]) -> list[float]:
    """Per-round ratios of paired samples (both measured in the same round)."""
    return [n / d for n, d in zip(numerator, denominator, strict=True)]


def timed(action: Callable[[], object]) -> float:
    """Wall-clock seconds one call of `action` took."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): 1.0 means linear growth."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("need at least two paired points")
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den


def rotated(items: Sequence[_T], round_no: int) -> list[_T]:
    """`items` rotated by the round number, so no variant always runs first."""
    k = round_no % len(items)
    return [*items[k:], *items[:k]]


def interleaved(
    units: int, variants: Mapping[str, Callable[[int], object]], offset: int = 0
) -> dict[str, float]:
    """Seconds each variant spent over `units` work units, run unit by unit.

    Unit i runs every variant once, in an order rotated by i: a slow spell of the
    machine (another process's fsyncs, say) then hits every contender alike.
    """
    totals = dict.fromkeys(variants, 0.0)
    for i in range(units):
        for name in rotated(list(variants), i + offset):
            work = variants[name]
            start = time.perf_counter()
            work(i)
            totals[name] += time.perf_counter() - start
    return totals
