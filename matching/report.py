"""What the analyst reads about a trained model: each level's match weight, in words."""

from __future__ import annotations

import math
from typing import Any

import polars as pl


def match_weights(model: dict[str, Any]) -> pl.DataFrame:
    """Every comparison level's m, u and match weight (log2 of m/u), strongest first."""
    rows = []
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            rows.append(
                {
                    "comparison": comparison["output_column_name"],
                    "level": level.get("label_for_charts") or level["sql_condition"],
                    "m": m,
                    "u": u,
                    "match_weight": weight,
                }
            )
    return pl.DataFrame(rows)
