"""Measure a world against its truth: error rates, nightly changes, partner sizes.

This reads only what `generate` wrote, so the figures quoted in the docs come from the
files themselves, not from the settings that were asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from world.config import WorldConfig
from world.errors import ALL_ERRORS


def error_rates(world: Path) -> pl.DataFrame:
    """Per error: records that could carry it, records that do, and the configured rate."""
    cfg = WorldConfig.model_validate(json.loads((world / "world.json").read_text())["config"])
    rec = pl.read_parquet(world / "truth" / "records.parquet")
    rows = []
    for name in ALL_ERRORS:
        eligible = rec.filter(pl.col(f"eligible_{name}"))
        rows.append(
            {
                "error": name,
                "eligible": eligible.height,
                "carried": int(eligible[name].sum()),
                "configured": getattr(cfg.errors, name),
            }
        )
    firsts = rec.filter(pl.col("copy") == 0).height
    rows.append(
        {
            "error": "duplicate",
            "eligible": firsts,
            "carried": rec.filter(pl.col("copy") == 1).height,
            "configured": cfg.errors.duplicate,
        }
    )
    return pl.DataFrame(rows).with_columns(
        (pl.col("carried") / pl.col("eligible")).round(4).alias("measured")
    )


def nightly_changes(world: Path) -> pl.DataFrame:
    """Per night after the first: life events, and partner records added, deleted, corrected."""
    truth = world / "truth"
    rec = pl.read_parquet(truth / "records.parquet")
    life = pl.read_parquet(truth / "life_events.parquet")
    nights = json.loads((world / "world.json").read_text())["nights"]
    rows = []
    for meta in nights[1:]:
        n = meta["night"]
        live_before = rec.filter((pl.col("first_night") <= n - 1) & (pl.col("end_night") > n - 1))
        kinds = life.filter(pl.col("night") == n)["kind"].value_counts()
        count = dict(zip(kinds["kind"].to_list(), kinds["count"].to_list(), strict=True))
        rows.append(
            {
                "date": meta["date"],
                "records_before": live_before.height,
                "added": rec.filter(pl.col("first_night") == n).height,
                "deleted": int((live_before["deleted_night"] == n).sum()),
                "left_register": int(
                    ((live_before["end_night"] == n) & live_before["deleted_night"].is_null()).sum()
                ),
                "corrected": int((live_before["corrected_night"] == n).sum()),
                "moved": count.get("move", 0),
                "born": count.get("birth", 0),
                "died": count.get("death", 0),
                "married": count.get("marriage", 0),
            }
        )
    return pl.DataFrame(rows)


def partner_sizes(world: Path) -> pl.DataFrame:
    """Person records per register and event rows, on each night."""
    nights = json.loads((world / "world.json").read_text())["nights"]
    return pl.DataFrame(
        [{"date": m["date"], **m["person_records"], "events": m["events"]} for m in nights]
    )
