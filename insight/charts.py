"""Charts for the reports, drawn by matplotlib as SVG to sit inside the HTML.

Each chart draws only what its table publishes, after disclosure control: a hidden count,
and any share or ratio worked out from one, is left out of the chart as it is of the
table, and the chart says how many were left out. The SVG carries no date, so the same
report draws the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: draw to files only

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

WIDTH = 7.0  # inches


def _svg(figure: Figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = out.getvalue()
    return text[text.index("<svg") :]  # no XML prolog inside HTML


def _left_out(ax: Any, n: int, what: str) -> None:
    if n:
        ax.set_title(f"{n} {what} hidden by the disclosure rule, not drawn", fontsize=8, loc="left")


def reach_chart(table: dict[str, Any]) -> str:
    """Each group's reach ratio with its 95% interval, against 1 (reached like the rest)."""
    rows = [
        r for r in table["rows"] if all(isinstance(r[k], float) for k in ("ratio", "low", "high"))
    ]
    figure, ax = plt.subplots(figsize=(WIDTH, 0.3 * len(rows) + 1.0))
    for y, r in enumerate(rows):
        colour = "tab:red" if r["high"] < 1 else "tab:blue"
        ax.plot([r["low"], r["high"]], [y, y], color=colour, linewidth=2)
        ax.plot([r["ratio"]], [y], "o", color=colour)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), [str(r["group"]) for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("reach ratio (log scale); red: the whole interval below 1")
    ax.invert_yaxis()
    _left_out(ax, len(table["rows"]) - len(rows), "groups")
    return _svg(figure)


def totals_chart(table: dict[str, Any], what: str) -> str:
    """A crosstab's row totals as bars (months, say): the hidden ones left out."""
    shown = [
        (str(label), total)
        for label, total in zip(table["rows"], table["row_totals"], strict=True)
        if isinstance(total, int)
    ]
    figure, ax = plt.subplots(figsize=(WIDTH, 2.6))
    ax.bar([label for label, _ in shown], [total for _, total in shown], color="tab:blue")
    ax.set_ylabel(what)
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    _left_out(ax, len(table["rows"]) - len(shown), "totals")
    return _svg(figure)


def binned_chart(bins: Sequence[dict[str, Any]], xlabel: str, ylabel: str) -> str:
    """The share with the outcome in bins of the running variable, either side of 0."""
    shown = [b for b in bins if isinstance(b["rate"], float)]
    figure, ax = plt.subplots(figsize=(WIDTH, 3.0))
    for side, colour in ((False, "tab:blue"), (True, "tab:red")):
        mine = [b for b in shown if (b["low"] >= 0) == side]
        ax.plot(
            [(b["low"] + b["high"]) / 2 for b in mine],
            [b["rate"] for b in mine],
            "o",
            color=colour,
        )
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _left_out(ax, len(bins) - len(shown), "bins")
    return _svg(figure)
