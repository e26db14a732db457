"""Stable person ids: a person keeps their id from night to night, through merges and splits.

Tonight's clusters are matched to last night's persons by the records they share. Each
previous id goes to the cluster holding most of its records (largest overlaps first, so
each id and each cluster is used once). A cluster that inherits no id is a new person.
When records of two previous persons end up in one cluster, that is a merge; when a
previous person's records are spread over clusters, that is a split. Both are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ASSIGNMENT_SCHEMA = pl.Schema({"unique_id": pl.String, "person_id": pl.String})
HISTORY_SCHEMA = pl.Schema(
    {"change": pl.String, "person_id": pl.String, "other_id": pl.String, "records": pl.Int64}
)


@dataclass(frozen=True)
class Assignment:
    """Tonight's person id for every record, and what changed since last night."""

    persons: pl.DataFrame  # unique_id, person_id
    history: pl.DataFrame  # change (new, merge, split), person_id, other_id, records
    next_number: int


def person_id(number: int) -> str:
    """The printed form of a person id."""
    return f"P{number:08d}"


def assign(clusters: pl.DataFrame, previous: pl.DataFrame, next_number: int) -> Assignment:
    """Give each of tonight's clusters a person id, keeping last night's where it can.

    Args:
        clusters: `unique_id`, `cluster_id` for every record tonight.
        previous: `unique_id`, `person_id` from last night (empty on the first night).
        next_number: the number the next new person id takes.
    """
    overlap = (
        clusters.select("unique_id", "cluster_id")
        .join(previous.select("unique_id", "person_id"), on="unique_id", how="inner")
        .group_by("cluster_id", "person_id")
        .len()
        .sort(["len", "person_id", "cluster_id"], descending=[True, False, False])
    )
    # Most clusters share records with exactly one previous person and that person with
    # exactly one cluster: those keep their id at once; the greedy pass handles the rest.
    ids_per_cluster = pl.col("person_id").count().over("cluster_id")
    clusters_per_id = pl.col("cluster_id").count().over("person_id")
    simple = overlap.filter((ids_per_cluster == 1) & (clusters_per_id == 1))
    cluster_to_id: dict[str, str] = dict(simple.select("cluster_id", "person_id").iter_rows())
    taken_ids: set[str] = set(cluster_to_id.values())
    tangled = overlap.join(simple.select("cluster_id"), on="cluster_id", how="anti")
    for cluster, pid, _n in tangled.iter_rows():
        if cluster not in cluster_to_id and pid not in taken_ids:
            cluster_to_id[cluster] = pid
            taken_ids.add(pid)
    history: list[tuple[str, str, str | None, int]] = []
    fresh = (
        clusters.group_by("cluster_id")
        .agg(pl.col("unique_id").min().alias("first"), pl.len().alias("n"))
        .filter(~pl.col("cluster_id").is_in(list(cluster_to_id)))
        .sort("first")
    )
    for cluster, _first, n in fresh.iter_rows():
        cluster_to_id[cluster] = person_id(next_number)
        history.append(("new", person_id(next_number), None, int(n)))
        next_number += 1
    for cluster, pid, n in tangled.iter_rows():
        kept = cluster_to_id[cluster]
        if pid == kept:
            continue
        # Records of `pid` now belong to `kept`: merged if pid lives on nowhere, else split off.
        change = "split" if pid in taken_ids else "merge"
        history.append((change, kept, pid, int(n)))
    persons = clusters.select(
        "unique_id",
        pl.col("cluster_id")
        .replace_strict(cluster_to_id, return_dtype=pl.String)
        .alias("person_id"),
    )
    return Assignment(
        persons=persons,
        history=pl.DataFrame(history, schema=HISTORY_SCHEMA, orient="row"),
        next_number=next_number,
    )
