"""Clusters that never join records which cannot be one person.

Connected components chain: a weak link between a mother's and her daughter's records
pulls both families of records into one "person". Here links are taken strongest first,
and two groups are joined only if no record of one conflicts with a record of the other
(different NHS numbers, UPNs or NI numbers, or dates of birth that no slip explains), and
some first name of one fits some first name of the other (same name, a nickname or
spelling, a swap with the surname, or close in spelling). So twins (one birthday, one
address, one surname, two first names) stay two people, and so do a parent and child who
share a first name but not a birthday.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

IDENTIFIERS = ("nhs_number", "upn", "ni_number")


@dataclass(frozen=True)
class Facts:
    """What a record says about who its person is, for conflict checks."""

    ids: tuple[str | None, ...]
    dob: str | None
    first: str | None
    first_group: str | None
    last: str | None


def _dob_fits(a: str, b: str) -> bool:
    if a == b or DamerauLevenshtein.distance(a, b) <= 1:
        return True
    if a[:4] == b[:4] and (a[5:] == "01-01" or b[5:] == "01-01"):
        return True  # one of them knows only the year
    return a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]  # day and month swapped


def _first_fits(x: Facts, y: Facts) -> bool:
    a, b = x.first, y.first
    if a is None or b is None or a == b or x.first_group == y.first_group:
        return True
    if a == y.last or b == x.last:
        return True  # first and last name swapped on one record
    return bool(JaroWinkler.similarity(a, b) >= 0.8)


def _facts_clash(x: Facts, y: Facts) -> bool:
    for a, b in zip(x.ids, y.ids, strict=True):
        if a is not None and b is not None and a != b:
            return True
    return x.dob is not None and y.dob is not None and not _dob_fits(x.dob, y.dob)


def conflict(x: Facts, y: Facts) -> bool:
    """True when two records cannot be the same person."""
    return _facts_clash(x, y) or not _first_fits(x, y)


def _groups_conflict(a: list[Facts], b: list[Facts]) -> bool:
    # Identifiers and birth dates must agree record by record. A first name needs only one
    # fit: CHUCK fits CHARLES though not the same person's CHALRES, a slip of CHARLES.
    if any(_facts_clash(x, y) for x in a for y in b):
        return True
    return not any(_first_fits(x, y) for x in a for y in b)


def constrained_clusters(
    prepared: pl.DataFrame, pairs: pl.DataFrame, threshold: float
) -> pl.DataFrame:
    """Cluster records by links at or above the threshold, strongest first, without conflicts.

    Args:
        prepared: the linkage input (`matching.prepare.prepare`).
        pairs: `unique_id_l`, `unique_id_r`, `match_probability`.
        threshold: links below it are not used.

    Returns:
        `unique_id`, `cluster_id` for every record; a cluster's id is its smallest record id.
    """
    facts = {
        row[0]: Facts(tuple(row[1:4]), row[4], row[5], row[6], row[7])
        for row in prepared.select(
            "unique_id", *IDENTIFIERS, "dob", "first_name", "first_name_group", "last_name"
        ).iter_rows()
    }
    parent = {uid: uid for uid in facts}
    members = {uid: [uid] for uid in facts}

    def find(u: str) -> str:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    edges = pairs.filter(pl.col("match_probability") >= threshold).sort(
        ["match_probability", "unique_id_l", "unique_id_r"], descending=[True, False, False]
    )
    for left, right in edges.select("unique_id_l", "unique_id_r").iter_rows():
        a, b = find(left), find(right)
        if a == b:
            continue
        if _groups_conflict([facts[x] for x in members[a]], [facts[y] for y in members[b]]):
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        parent[b] = a
        members[a].extend(members.pop(b))
    rows = [(uid, min(members[root])) for root in members for uid in members[root]]
    return pl.DataFrame(
        rows, schema={"unique_id": pl.String, "cluster_id": pl.String}, orient="row"
    )


def mark_refused(pairs: pl.DataFrame, clusters: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Add `refused_by_clustering`: a link at or above the threshold whose records stayed apart.

    Such a link scored high enough, but joining its records would have joined records that
    conflict, so the product does not keep it: its records are two persons.

    Args:
        pairs: `unique_id_l`, `unique_id_r`, `match_probability`.
        clusters: `unique_id`, `cluster_id` for every record of the pairs.
        threshold: the threshold the clusters were made at.
    """
    cluster = clusters.select("unique_id", "cluster_id")
    marked: pl.DataFrame = (
        pairs.join(
            cluster.rename({"unique_id": "unique_id_l", "cluster_id": "_cluster_l"}),
            on="unique_id_l",
            how="left",
        )
        .join(
            cluster.rename({"unique_id": "unique_id_r", "cluster_id": "_cluster_r"}),
            on="unique_id_r",
            how="left",
        )
        .with_columns(
            (
                (pl.col("match_probability") >= threshold)
                & (pl.col("_cluster_l") != pl.col("_cluster_r"))
            )
            .fill_null(False)
            .alias("refused_by_clustering")
        )
        .drop("_cluster_l", "_cluster_r")
    )
    return marked


def recluster_changes(
    prepared: pl.DataFrame,
    pairs: pl.DataFrame,
    previous: pl.DataFrame,
    changed: set[str],
    threshold: float,
) -> pl.DataFrame:
    """Clusters for tonight, re-working only the persons that what changed can touch.

    A person is re-clustered when one of their records changed or went, or when a
    changed record now links to one of their records; everyone else keeps last night's
    cluster as it was.

    Args:
        prepared: tonight's linkage input.
        pairs: tonight's scored pairs (`unique_id_l`, `unique_id_r`, `match_probability`).
        previous: last night's `unique_id`, `person_id`.
        changed: unique ids of new and changed records.
        threshold: links below it are not used.
    """
    current = prepared.select("unique_id")
    gone = previous.join(current, on="unique_id", how="anti")["unique_id"]
    strong = pairs.filter(pl.col("match_probability") >= threshold)
    reached = strong.filter(
        pl.col("unique_id_l").is_in(list(changed)) | pl.col("unique_id_r").is_in(list(changed))
    )
    touched = (
        set(changed)
        | set(gone.to_list())
        | set(reached["unique_id_l"].to_list())
        | set(reached["unique_id_r"].to_list())
    )
    affected = previous.filter(pl.col("unique_id").is_in(list(touched)))["person_id"].unique()
    redo_ids = (
        set(previous.filter(pl.col("person_id").is_in(affected.implode()))["unique_id"].to_list())
        | touched
    )
    redo = prepared.filter(pl.col("unique_id").is_in(list(redo_ids)))
    redo_pairs = strong.filter(
        pl.col("unique_id_l").is_in(list(redo_ids)) & pl.col("unique_id_r").is_in(list(redo_ids))
    )
    fresh = constrained_clusters(redo, redo_pairs, threshold)
    kept = (
        previous.join(current, on="unique_id")
        .filter(~pl.col("unique_id").is_in(list(redo_ids)))
        .select(
            "unique_id", pl.concat_str([pl.lit("kept:"), pl.col("person_id")]).alias("cluster_id")
        )
    )
    return pl.concat([kept, fresh])
