"""Two-way tables of counts from a frame of rows, through the disclosure rule, as the
reports publish them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from insight.disclosure import DisclosureRule, protect


def crosstab(
    frame: pl.DataFrame,
    rows: str,
    columns: str,
    rule: DisclosureRule,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Count the frame's rows by two of its columns, disclosure-controlled, with the labels.

    Args:
        frame: one row per thing counted.
        rows, columns: the columns whose values label the table's rows and columns.
        rule: the disclosure rule.
        row_labels, column_labels: the labels in order, each shown even at a count of 0
            (a value of the frame not among them is not counted); the values found,
            sorted, if None.

    Returns:
        rows, columns (the labels), cells, row_totals, column_totals and total, each count
        as `protect` publishes it; no labels and a total of 0 when there is nothing to
        count.
    """
    row_labels = list(row_labels if row_labels is not None else sorted(frame[rows].unique()))
    column_labels = list(
        column_labels if column_labels is not None else sorted(frame[columns].unique())
    )
    if not row_labels or not column_labels:
        return {
            "rows": row_labels,
            "columns": column_labels,
            "cells": [],
            "row_totals": [],
            "column_totals": [],
            "total": 0,
        }
    counted = frame.group_by(rows, columns).len()
    lookup = {(r[rows], r[columns]): r["len"] for r in counted.iter_rows(named=True)}
    counts = [[int(lookup.get((r, c), 0)) for c in column_labels] for r in row_labels]
    published = protect(counts, rule)
    return {
        "rows": row_labels,
        "columns": column_labels,
        "cells": published.cells,
        "row_totals": published.row_totals,
        "column_totals": published.column_totals,
        "total": published.total,
    }


def as_frame(table: dict[str, Any], label: str = "") -> pl.DataFrame:
    """A published table (as `crosstab` gives it) as a frame for a notebook: a row per
    label and one for all, a column per label and one for all; counts as text, since a
    hidden one is `*`."""
    rows = [
        {label: str(name), **dict(zip(table["columns"], cells, strict=True)), "all": total}
        for name, cells, total in zip(
            table["rows"], table["cells"], table["row_totals"], strict=True
        )
    ]
    if rows:
        rows.append(
            {
                label: "all",
                **dict(zip(table["columns"], table["column_totals"], strict=True)),
                "all": table["total"],
            }
        )
    schema = {label: pl.String, **{str(c): pl.String for c in table["columns"]}, "all": pl.String}
    return pl.DataFrame([{k: str(v) for k, v in row.items()} for row in rows], schema=schema)
