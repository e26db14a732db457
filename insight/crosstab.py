"""Two-way tables of counts (month by type, team by state...), disclosure-controlled."""

from __future__ import annotations

from typing import Any

import polars as pl

from insight.disclosure import DisclosureRule, protect


def crosstab(frame: pl.DataFrame, rows: str, columns: str, rule: DisclosureRule) -> dict[str, Any]:
    """Count a frame's rows by two of its columns, through the disclosure rule.

    Returns:
        The labels (`rows`, `columns`, sorted) and the published `cells`, `row_totals`,
        `column_totals` and `total`; an empty frame gives an empty table whose total is 0.
    """
    if frame.is_empty():
        return {
            "rows": [],
            "columns": [],
            "cells": [],
            "row_totals": [],
            "column_totals": [],
            "total": 0,
        }
    row_labels = sorted(frame[rows].unique().to_list())
    column_labels = sorted(frame[columns].unique().to_list())
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
