"""Disclosure control for every count the product publishes in aggregate.

Counts of people that small can identify someone, so a table leaves the product only
through `protect`:

- **Primary suppression**: a count from 1 to `suppress_up_to` (7 by NHS Digital's rule)
  is shown as `*`. Zero is shown: it identifies nobody.
- **Secondary suppression**: a suppressed count could be worked out again from its row's
  or column's total and the other counts. So every line (each row and each column, the
  totals included) that holds a suppressed cell holds at least two: where it would hold
  one, the smallest other non-zero count of that line is suppressed too. Two a line is
  not always enough: a hidden count that is the only link between two groups of hidden
  counts (a bridge, in the graph of lines and hidden counts) is the sum of the lines on
  one side, so one more count beside it is hidden, until none is.
- **Rounding**: every count still shown, totals included, is rounded to the nearest
  `round_to` (5 by the rule), so what is shown never adds up exactly.

`recoverable` is the attacker's side: with linear programming it finds the range each
suppressed cell could take given everything shown, and the tests use it to check that no
suppressed cell is pinned down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linprog

SUPPRESSED = "*"


class DisclosureRule(BaseModel):
    """How small counts are hidden: NHS Digital's rule by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suppress_up_to: int = Field(7, ge=0, description="counts from 1 to this are suppressed")
    round_to: int = Field(5, ge=1, description="counts shown are rounded to a multiple of this")


@dataclass(frozen=True)
class Protected:
    """A table of counts as it may be published: cells, row totals, column totals, total.

    A published value is an int, or `SUPPRESSED`.
    """

    cells: list[list[int | str]]
    row_totals: list[int | str]
    column_totals: list[int | str]
    total: int | str
    rule: DisclosureRule

    def values(self) -> list[int | str]:
        """Every value published, cells and totals, for checking each against the rule."""
        return [
            *(v for row in self.cells for v in row),
            *self.row_totals,
            *self.column_totals,
            self.total,
        ]


def _round(value: int, step: int) -> int:
    """To the nearest multiple of `step`, halves up (2.5 to 5), as NHS Digital rounds."""
    return int((value + step / 2) // step * step)


def _lines(rows: int, columns: int) -> list[list[tuple[int, int]]]:
    """Each line of the extended table (row totals in the last column, column totals in
    the last row, the grand total in the corner) as the positions whose first ones add up
    to its last."""
    lines = [[(r, c) for c in range(columns + 1)] for r in range(rows + 1)]
    lines += [[(r, c) for r in range(rows + 1)] for c in range(columns + 1)]
    return lines


def _ranges(
    grid: np.ndarray, hidden: np.ndarray, slack: float
) -> dict[tuple[int, int], tuple[float, float]]:
    """The attacker's linear program over an extended table: for each hidden position, the
    lowest and highest value it can take given every value shown (each within `slack` of
    the truth, never below 0) and that every line adds up."""
    rows, columns = grid.shape[0] - 1, grid.shape[1] - 1
    index = {(r, c): r * (columns + 1) + c for r in range(rows + 1) for c in range(columns + 1)}
    bounds: list[tuple[float, float | None]] = [
        (0.0, None) if hidden[p] else (max(0.0, float(grid[p]) - slack), float(grid[p]) + slack)
        for p in index
    ]
    lines = _lines(rows, columns)
    a_eq = np.zeros((len(lines), len(index)))
    for k, line in enumerate(lines):
        for p in line[:-1]:
            a_eq[k, index[p]] = 1.0
        a_eq[k, index[line[-1]]] = -1.0
    b_eq = np.zeros(len(lines))
    found = {}
    for p, i in index.items():
        if not hidden[p]:
            continue
        objective = np.zeros(len(index))
        objective[i] = 1.0
        low = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        top = float("inf") if high.status == 3 else -float(high.fun)  # 3: unbounded
        found[p] = (float(low.fun), top)
    return found


def _pinned(hidden: np.ndarray) -> list[tuple[int, int]]:
    """The hidden positions that the sums would give away: the bridges of the graph whose
    nodes are the lines (rows and columns of the extended table) and whose edges are the
    hidden positions.

    Each position lies on one row line and one column line. A hidden value on a cycle of
    hidden values can move up or down by one with the others on the cycle (each at least
    1), every sum unchanged, so it keeps two possible values; a bridge's value is the sum
    of the lines on one side of it, so it is pinned.
    """
    rows, columns = hidden.shape
    edges = [(r, c) for r in range(rows) for c in range(columns) if hidden[r, c]]
    neighbours: dict[str, list[tuple[str, int]]] = {}
    for i, (r, c) in enumerate(edges):
        neighbours.setdefault(f"r{r}", []).append((f"c{c}", i))
        neighbours.setdefault(f"c{c}", []).append((f"r{r}", i))
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    bridges: list[tuple[int, int]] = []
    for root, around in neighbours.items():
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, -1, iter(around))]
        while stack:
            node, via, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        bridges.append(edges[via])
                continue
            other, edge = step
            if edge == via:
                continue
            if other in order:
                low[node] = min(low[node], order[other])
            else:
                order[other] = low[other] = len(order)
                stack.append((other, edge, iter(neighbours[other])))
    return bridges


def _hide_one_more(full: np.ndarray, hidden: np.ndarray, p: tuple[int, int]) -> bool:
    """Hide the smallest non-zero value shown in a line through `p` (cells before totals)."""
    rows, columns = full.shape[0] - 1, full.shape[1] - 1
    candidates = [
        q
        for line in _lines(rows, columns)
        if p in line
        for q in line
        if not hidden[q] and full[q] > 0
    ]
    if not candidates:
        return False
    smallest = min(candidates, key=lambda q: (q[0] == rows or q[1] == columns, full[q]))
    hidden[smallest] = True
    return True


def protect(counts: list[list[int]], rule: DisclosureRule | None = None) -> Protected:
    """Suppress and round a two-way table of counts (rows by columns) for publication.

    Args:
        counts: non-negative counts, one list per row, every row as long.
        rule: the disclosure rule (NHS Digital's if None).

    Raises:
        ValueError: the counts are not a rectangular table of non-negative integers.

    Examples:
        >>> protect([[3, 20], [12, 40]]).cells
        [['*', '*'], ['*', '*']]
    """
    rule = rule or DisclosureRule()
    try:
        table = np.asarray(counts, dtype=np.int64)
    except (ValueError, TypeError):  # rows of different lengths, or not numbers
        table = np.empty((0,), dtype=np.int64)
    if table.ndim != 2 or table.size == 0 or (table < 0).any():
        raise ValueError("counts must be a rectangular table of non-negative integers")
    rows, columns = table.shape
    full = np.zeros((rows + 1, columns + 1), dtype=np.int64)
    full[:rows, :columns] = table
    full[:rows, columns] = table.sum(axis=1)
    full[rows, :columns] = table.sum(axis=0)
    full[rows, columns] = table.sum()
    hidden = (full >= 1) & (full <= rule.suppress_up_to)
    while True:
        # A line with one hidden value gives it away: hide one more in it.
        changed = True
        while changed:
            changed = False
            for line in _lines(rows, columns):
                marked = [p for p in line if hidden[p]]
                if len(marked) == 1 and _hide_one_more(full, hidden, marked[0]):
                    changed = True
        # Two per line is not always enough: a hidden value can still be pinned by the
        # lines around it (a bridge between two groups of hidden values). One more value
        # is hidden beside each pinned one, until none is.
        pinned = _pinned(hidden)
        if not pinned or not any(_hide_one_more(full, hidden, p) for p in pinned):
            break

    def shown(p: tuple[int, int]) -> int | str:
        return SUPPRESSED if hidden[p] else _round(int(full[p]), rule.round_to)

    return Protected(
        cells=[[shown((r, c)) for c in range(columns)] for r in range(rows)],
        row_totals=[shown((r, columns)) for r in range(rows)],
        column_totals=[shown((rows, c)) for c in range(columns)],
        total=shown((rows, columns)),
        rule=rule,
    )


def recoverable(published: Protected) -> dict[tuple[int, int], tuple[float, float]]:
    """The range each suppressed value could take, given only what is published.

    Every value is non-negative, each line adds up, and a shown value lies within rounding
    of the true one. Keys are positions in the extended table: the row totals in the last
    column, the column totals in the last row, the grand total in the corner.
    """
    rows = len(published.cells)
    grid_values: list[list[int | str]] = [
        [*published.cells[r], published.row_totals[r]] for r in range(rows)
    ]
    grid_values.append([*published.column_totals, published.total])
    hidden = np.array([[v == SUPPRESSED for v in row] for row in grid_values])
    grid = np.array([[0 if v == SUPPRESSED else int(v) for v in row] for row in grid_values])
    return _ranges(grid, hidden, (published.rule.round_to - 1) / 2)
