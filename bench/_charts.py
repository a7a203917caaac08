"""PNG charts of the HTTP scaling runs (bench/http_bench.py --charts); matplotlib is a bench-only
dependency, imported only when charts are asked for."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import matplotlib

matplotlib.use("Agg")  # files only: no display, and the same output everywhere

from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
    StrMethodFormatter,
)

__all__ = ["Ceiling", "Panel", "Point", "draw"]

# Reads and writes keep their colour in every panel, under whichever name they appear.
COLOURS = {"GET": "tab:blue", "item_stock()": "tab:blue", "POST": "tab:orange"}
COLOURS["transfer"] = COLOURS["POST"]


@attrs.frozen
class Point:
    """One load run: x (connections or ledger size), throughput and p99 latency."""

    x: float
    rps: float
    p99_ms: float


@attrs.frozen
class Ceiling:
    """A reference throughput measured once, drawn as a lone hollow marker in the colour of the
    series it bounds."""

    label: str
    x: float
    rps: float
    bounds: str


@attrs.frozen
class Panel:
    """A third panel of (x, y) lines beside the two of ``draw``; a name ending in "p99" is
    drawn dashed, to pair with its p50."""

    title: str
    ylabel: str
    series: Mapping[str, Sequence[tuple[float, float]]]


def _nice_floor(value: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is at most ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (5, 2, 1) if m * power <= value)


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}"


def _powers_of_ten(value: float, _pos: object = None) -> str:
    exponent = round(math.log10(value)) if value > 0 else 0
    if value > 0 and 10**exponent == value:
        return f"$10^{{{exponent}}}$"
    return f"{value:,.0f}"


def draw(
    path: Path,
    *,
    title: str,
    subtitle: str,
    xlabel: str,
    series: Mapping[str, Sequence[Point]],
    log_y: bool,
    p99_target_ms: float | None = None,
    ceilings: Sequence[Ceiling] = (),
    powers_of_ten: bool = False,
    extra: Panel | None = None,
) -> None:
    """Two panels side by side, throughput and p99 latency against the same x (log scale, ticks
    at the measured values), one line per series, written to ``path`` as PNG.

    ``log_y`` puts both y axes on a log scale, else they start at zero."""
    panels = 2 if extra is None else 3
    figure = Figure(figsize=(6 * panels, 5), dpi=120, layout="constrained")
    figure.suptitle(f"{title}\n{subtitle}", fontsize=11)
    rps_axes, p99_axes, *more = figure.subplots(1, panels)
    xs = sorted({p.x for points in series.values() for p in points} | {c.x for c in ceilings})
    formatter = FuncFormatter(_powers_of_ten if powers_of_ten else _plain)
    for name, points in series.items():
        ordered = sorted(points, key=lambda p: p.x)
        # A hot-row run shares its colour with the spread load of the same kind: another marker.
        marker = "X" if "hot row" in name else "o"
        style = {"color": COLOURS.get(name.split()[0]), "marker": marker, "label": name}
        rps_axes.plot([p.x for p in ordered], [p.rps for p in ordered], **style)
        p99_axes.plot([p.x for p in ordered], [p.p99_ms for p in ordered], **style)
    for marker, ceiling in zip("*D^v", ceilings, strict=False):
        rps_axes.plot(
            [ceiling.x], [ceiling.rps], marker=marker, markersize=11, linestyle="none",
            markerfacecolor="none", markeredgewidth=1.5,
            color=COLOURS.get(ceiling.bounds.split()[0]), label=ceiling.label,
        )  # fmt: skip
    if p99_target_ms is not None:
        p99_axes.axhline(
            p99_target_ms, color="tab:red", linestyle="--", linewidth=1,
            label=f"p99 target {p99_target_ms:g} ms",
        )  # fmt: skip
    if extra is not None:
        more[0].set_title(extra.title)
        more[0].set_ylabel(extra.ylabel)
        for name, pairs in extra.series.items():
            by_x = sorted(pairs)
            more[0].plot(
                [x for x, _ in by_x], [y for _, y in by_x], marker="o", label=name,
                color=COLOURS.get(name.split()[0]),
                linestyle="--" if name.endswith("p99") else "-",
            )  # fmt: skip
    rps_axes.set_title("Throughput over HTTP")
    p99_axes.set_title("99th percentile latency over HTTP")
    scale = " (log scale)" if log_y else ""
    rps_axes.set_ylabel(f"requests per second{scale}")
    p99_axes.set_ylabel(f"p99 latency, ms{scale}")
    for axes in (rps_axes, p99_axes, *more):
        if log_y:
            # Values span two orders of magnitude across connection counts.
            axes.set_yscale("log")
            axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axes.yaxis.set_minor_formatter(NullFormatter())
            # Down to a labelled tick, or a line lying between two ticks cannot be read off.
            axes.set_ylim(bottom=_nice_floor(axes.get_ylim()[0]))
        else:
            # From zero, so that a flat line reads as flat and not as a zoomed-in wobble.
            axes.set_ylim(bottom=0, top=axes.get_ylim()[1] * 1.15)
        axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,g}"))
        axes.set_xscale("log")
        axes.set_xticks(xs)
        axes.xaxis.set_major_formatter(formatter)
        axes.xaxis.set_minor_locator(NullLocator())
        axes.set_xlabel(xlabel)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
