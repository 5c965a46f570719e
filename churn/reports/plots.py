"""Figures drawn with matplotlib and returned as inline SVG: the one plotting module of the reports.

Each figure is deterministic (the same data gives the same bytes: no date in the file, ids derived
from the figure's name), scales with the page (CSS sets its width), and keeps its text as text
(svg.fonttype "none"), so a report stays small and needs no font or network to be viewed. Figures are
built on matplotlib.figure.Figure, never pyplot: no global state and no GUI backend.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

BLUE = "#2563eb"
GREY = "#9ca3af"
RED = "#dc2626"
GREEN = "#16a34a"
SIZE = (4.8, 3.4)  # inches at 72 points each: the SVG's own size before CSS scales it
PALETTE = (BLUE, "#f59e0b", GREEN, RED)
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
}
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


@dataclass(frozen=True)
class Series:
    """One line of a line chart: dashed for references (a diagonal, a baseline), markers for measured points."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False
    markers: bool = False


@contextmanager
def drawing(name: str, size: tuple[float, float] = SIZE) -> Iterator[tuple[Figure, Axes, list[str]]]:
    """A figure in the house style; what the block leaves in the list is the figure's SVG.

    The style applies while the figure is built and saved (matplotlib reads it at both times); the name
    seeds the SVG's ids, so several figures in one page never share an id.
    """
    out: list[str] = []
    style: Any = {**STYLE, "svg.hashsalt": name}
    with matplotlib.rc_context(style):
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        yield fig, ax, out
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata=NO_METADATA)
    out.append(inline(buffer.getvalue()))


def inline(document: str) -> str:
    """An SVG document as an element of an HTML page: no XML prologue, and no id that nothing refers to
    (matplotlib names every group figure_1, axes_1...: two figures in one page would repeat them)."""
    text = document[document.index("<svg") :].strip()
    referenced = set(re.findall(r"#([\w.-]+)", text))
    return re.sub(r' id="([^"]+)"', lambda m: m.group(0) if m.group(1) in referenced else "", text)


def line_chart(
    name: str,
    series: Sequence[Series],
    *,
    xlabel: str,
    ylabel: str,
    percent: tuple[bool, bool] = (False, False),
    limits: tuple[float, float] | None = (0, 1),
) -> str:
    """Lines on shared axes (percent=(x, y) shows an axis' values in %; limits bound both axes)."""
    with drawing(name) as (_, ax, out):
        for i, s in enumerate(series):
            look: dict[str, Any] = {"linestyle": "--", "color": GREY, "linewidth": 1} if s.dashed else {}
            if s.markers:
                look |= {"marker": "o", "markersize": 3.5}
            ax.plot(s.x, s.y, label=s.label, **({"color": PALETTE[i % len(PALETTE)]} | look))
        label_axes(ax, xlabel, ylabel, percent)
        if limits is not None:
            ax.set_xlim(*limits)
            ax.set_ylim(*limits)
        ax.legend(loc="best")
    return out[0]


def bar_chart(
    name: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    xlabel: str,
    ylabel: str,
    baseline: float | None = None,
) -> str:
    """Vertical bars, one per label, with an optional dashed reference level."""
    with drawing(name) as (_, ax, out):
        ax.bar(list(labels), list(values), color=BLUE)
        if baseline is not None:
            ax.axhline(baseline, linestyle="--", color=GREY, linewidth=1)
        label_axes(ax, xlabel, ylabel, (False, False))
        ax.grid(axis="x", visible=False)
    return out[0]


def signed_bars(name: str, labels: Sequence[str], values: Sequence[float], *, xlabel: str) -> str:
    """Horizontal bars, first label on top: positive values red, negative green (raising or lowering a risk)."""
    height = max(2.0, 0.26 * len(labels) + 0.8)
    with drawing(name, (SIZE[0] * 1.25, height)) as (_, ax, out):
        rows = range(len(labels))
        ax.barh(list(rows), list(values), color=[RED if v > 0 else GREEN for v in values])
        ax.set_yticks(list(rows), list(labels))
        ax.invert_yaxis()
        ax.axvline(0, color="#374151", linewidth=0.8)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
    return out[0]


def label_axes(ax: Axes, xlabel: str, ylabel: str, percent: tuple[bool, bool]) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if percent[0]:
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if percent[1]:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
