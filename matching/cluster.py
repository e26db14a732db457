"""Clusters that never join records which cannot be one person.

Connected components chain: a weak link between a mother's and her daughter's records
pulls both families of records into one "person". Here links are taken strongest first,
and two groups are joined only if no record of one conflicts with a record of the other
(different NHS numbers, UPNs or NI numbers, or dates of birth that no slip explains), and
some first name of one fits some first name of the other (same name, a nickname or
spelling, a swap with the surname, the same first three letters, or close in spelling).
So twins (one birthday, one address, one surname, two first names) stay two people, and
so do a parent and child who share a first name but not a birthday.

Each of those fields is a veto only where the records bear it out (`vetoes`): where the
trained model says that records of one person disagree on it that way in at most 2 pairs
in 100. A partner whose clerks type over first names or dates of birth (FEBRL's files
replace one in ten) gets no veto on them, and the score weighs the disagreement instead.

The first name is judged source by source too: a source known to abbreviate or replace
first names (named by the analyst, or found by `first_names_varying`: its pairs that the
rest of the evidence links for sure disagree on the first name too often) gets no
first-name veto. Its records' first names are evidence with the model's weight: a pair
that disagrees on them links only where the rest of its evidence outweighs that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

IDENTIFIERS = ("nhs_number", "upn", "ni_number")
VETO_FIELDS = (*IDENTIFIERS, "dob", "first_name")
# A veto wrongly parts the records of one person in the share of true pairs that disagree
# on its field in a way it refuses: it holds only where that share is at most this.
MAX_VETO_MISS = 0.02
# The levels of each field's comparison that the veto lets through (by label); every other
# level's m is the share of one person's pairs the veto would part.
VETO_FITS = {
    "dob": ("Exact match", "Day and month swapped", "One character", "Same year, one known"),
    "first_name": ("Exact match", "Same name group", "One slip", "Jaro-Winkler", "First name is"),
}


# A source's first names vary when more than this share of its pairs that the rest of the
# evidence links for sure (`SURE_WITHOUT_FIRST_NAME`) have first names the rule refuses,
# counted over at least `MIN_SURE_PAIRS` pairs. Well above the twins of a roll (same birth
# date, surname and address, two first names), about 1 pair in 100 of such pairs.
VARIED_SHARE = 0.05
MIN_SURE_PAIRS = 20
# Match weight without the first name's that counts as sure: probability 0.999.
SURE_WITHOUT_FIRST_NAME = math.log2(999)


@dataclass(frozen=True)
class Facts:
    """What a record says about who its person is, for conflict checks."""

    ids: tuple[str | None, ...]
    dob: str | None
    first: str | None
    first_group: str | None
    last: str | None
    varied: bool = False  # from a source whose first names vary: no first-name veto


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
    if min(len(a), len(b)) >= 3 and a[:3] == b[:3]:
        return True  # a short form the name groups do not list (MADDY, MADISON)
    return bool(JaroWinkler.similarity(a, b) >= 0.8)


def vetoes(model: dict[str, Any]) -> frozenset[str]:
    """The fields on which a disagreement keeps two records apart, as the model learned them.

    A field vetoes when the model's levels that its check refuses hold at most
    `MAX_VETO_MISS` of one person's pairs (their m probabilities summed). A comparison
    with a refused level not yet trained keeps its veto, as the council's model has it.
    """
    kept = set()
    for comparison in model["comparisons"]:
        name = comparison["output_column_name"]
        if name not in VETO_FIELDS:
            continue
        fits = VETO_FITS.get(name, ("Exact match",))
        refused = [
            level.get("m_probability")
            for level in comparison["comparison_levels"]
            if not level.get("is_null_level")
            and not level.get("label_for_charts", "").startswith(fits)
        ]
        if any(m is None for m in refused) or sum(refused) <= MAX_VETO_MISS:
            kept.add(name)
    return frozenset(kept)


def _facts_clash(x: Facts, y: Facts, veto: frozenset[str]) -> bool:
    for name, a, b in zip(IDENTIFIERS, x.ids, y.ids, strict=True):
        if name in veto and a is not None and b is not None and a != b:
            return True
    return "dob" in veto and x.dob is not None and y.dob is not None and not _dob_fits(x.dob, y.dob)


def conflict(x: Facts, y: Facts, veto: frozenset[str] = frozenset(VETO_FIELDS)) -> bool:
    """True when two records cannot be the same person."""
    return _facts_clash(x, y, veto) or ("first_name" in veto and not _first_fits(x, y))


def _groups_conflict(a: list[Facts], b: list[Facts], veto: frozenset[str]) -> bool:
    # Identifiers and birth dates must agree record by record. A first name needs only one
    # fit: CHUCK fits CHARLES though not the same person's CHALRES, a slip of CHARLES. The
    # records of a source whose first names vary are not held to it: the score weighed
    # their first names.
    if any(_facts_clash(x, y, veto) for x in a for y in b):
        return True
    if "first_name" not in veto:
        return False
    strict_a = [x for x in a if not x.varied]
    strict_b = [y for y in b if not y.varied]
    if not strict_a or not strict_b:
        return False
    return not any(_first_fits(x, y) for x in strict_a for y in strict_b)


def first_names_varying(
    prepared: pl.DataFrame, evidence: pl.DataFrame
) -> dict[str, tuple[int, int]]:
    """The sources whose first names vary, found from pairs the rest of the evidence is sure of.

    Of the scored pairs whose match weight without the first name's gives a probability of
    at least 0.999, and that agree on a birth date or an identifier, those whose first
    names the first-name rule refuses (no nickname, swap, short form or close spelling
    explains them) are counted for the sources of both records. A source varies where
    more than `VARIED_SHARE` of at least `MIN_SURE_PAIRS` such pairs are refused.

    Args:
        prepared: the linkage input (`matching.prepare.prepare`).
        evidence: `unique_id_l`, `unique_id_r`, `match_weight` and `first_name_weight`
            (`matching.evidence.pair_evidence` beside the pairs' weights).

    Returns:
        Each source that varies: (pairs refused, pairs counted).
    """
    if "first_name_weight" not in evidence.columns:
        return {}
    # A family at one address agrees on all but first names and birth dates: only a pair
    # that agrees on a birth date or an identifier too is sure to be one person.
    personal = [
        pl.col(f"{name}_weight") > 0
        for name in ("dob", *IDENTIFIERS)
        if f"{name}_weight" in evidence.columns
    ]
    if not personal:
        return {}
    sure = evidence.filter(
        (pl.col("match_weight") - pl.col("first_name_weight")) >= SURE_WITHOUT_FIRST_NAME,
        pl.any_horizontal(personal),
    ).select("unique_id_l", "unique_id_r")
    facts = prepared.select("unique_id", "source", "first_name", "first_name_group", "last_name")
    both = sure.join(facts.rename(lambda c: f"{c}_l"), on="unique_id_l").join(
        facts.rename(lambda c: f"{c}_r"), on="unique_id_r"
    )
    both = both.drop_nulls(["first_name_l", "first_name_r"])
    counts: dict[str, list[int]] = {}
    for row in both.iter_rows(named=True):
        x = Facts((), None, row["first_name_l"], row["first_name_group_l"], row["last_name_l"])
        y = Facts((), None, row["first_name_r"], row["first_name_group_r"], row["last_name_r"])
        refused = not _first_fits(x, y)
        for source in {row["source_l"], row["source_r"]}:
            seen = counts.setdefault(source, [0, 0])
            seen[0] += refused
            seen[1] += 1
    return {
        source: (refused, total)
        for source, (refused, total) in sorted(counts.items())
        if total >= MIN_SURE_PAIRS and refused > VARIED_SHARE * total
    }


def constrained_clusters(
    prepared: pl.DataFrame,
    pairs: pl.DataFrame,
    threshold: float,
    one_per_person: frozenset[str] = frozenset(),
    veto: frozenset[str] = frozenset(VETO_FIELDS),
    first_names_vary: frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Cluster records by links at or above the threshold, strongest first, without conflicts.

    Args:
        prepared: the linkage input (`matching.prepare.prepare`).
        pairs: `unique_id_l`, `unique_id_r`, `match_probability`.
        threshold: links below it are not used.
        one_per_person: sources that hold at most one record of a person (a register, one
            side of a 1:1 or 1:many link): two of their records never join one cluster,
            so a record of another source links to at most one of them.
        veto: the fields whose disagreement keeps records apart (`vetoes` of the model).
        first_names_vary: sources whose first names vary: their records' first names
            weigh in the score only, and never keep records apart.

    Returns:
        `unique_id`, `cluster_id` for every record; a cluster's id is its smallest record id.
    """
    facts = {
        row[0]: Facts(tuple(row[1:4]), row[4], row[5], row[6], row[7], row[8] in first_names_vary)
        for row in prepared.select(
            "unique_id",
            *IDENTIFIERS,
            "dob",
            "first_name",
            "first_name_group",
            "last_name",
            "source",
        ).iter_rows()
    }
    parent = {uid: uid for uid in facts}
    members = {uid: [uid] for uid in facts}
    # Per cluster, the one-per-person sources it already has a record of.
    registers: dict[str, set[str]] = {uid: set() for uid in facts}
    if one_per_person:
        for uid, source in prepared.select("unique_id", "source").iter_rows():
            if source in one_per_person:
                registers[uid] = {source}

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
        if a == b or registers[a] & registers[b]:
            continue
        if _groups_conflict([facts[x] for x in members[a]], [facts[y] for y in members[b]], veto):
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        parent[b] = a
        members[a].extend(members.pop(b))
        registers[a] |= registers.pop(b)
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


def to_recluster(
    previous: pl.DataFrame, gone: pl.DataFrame, new_links: pl.DataFrame, changed: set[str]
) -> pl.DataFrame:
    """The records whose persons what changed can touch: they are clustered again.

    A person is touched when one of their records changed or went, or when a changed
    record now links to one of their records.

    Args:
        previous: last night's `unique_id`, `person_id`.
        gone: `unique_id` of last night's records that are not here tonight.
        new_links: tonight's links (pairs at the threshold) of new and changed records.
        changed: unique ids of new and changed records.

    Returns:
        `unique_id`: those records, and every other record of their persons.
    """
    ids = pl.DataFrame({"unique_id": list(changed)}, schema={"unique_id": pl.String})
    touched = pl.concat(
        [
            ids,
            gone.select("unique_id"),
            new_links.select(pl.col("unique_id_l").alias("unique_id")),
            new_links.select(pl.col("unique_id_r").alias("unique_id")),
        ]
    ).unique()
    affected = previous.join(touched, on="unique_id", how="semi").select("person_id")
    theirs = previous.join(affected, on="person_id", how="semi").select("unique_id")
    return pl.concat([touched, theirs]).unique()


def recluster_changes(
    prepared: pl.DataFrame,
    links: pl.DataFrame,
    previous: pl.DataFrame,
    redo: pl.DataFrame,
    threshold: float,
    veto: frozenset[str] = frozenset(VETO_FIELDS),
) -> pl.DataFrame:
    """Clusters for tonight, re-working only the records of `to_recluster`.

    Everyone else keeps last night's cluster as it was.

    Args:
        prepared: tonight's linkage input.
        links: tonight's pairs (`unique_id_l`, `unique_id_r`, `match_probability`): at
            least every one at the threshold between two records of `redo`.
        previous: last night's `unique_id`, `person_id`.
        redo: `unique_id` of the records to cluster again (`to_recluster`), which holds
            every record of last night that is not here tonight.
        threshold: links below it are not used.
        veto: the fields whose disagreement keeps records apart (`vetoes` of the model).

    Returns:
        `unique_id`, `cluster_id` for every record tonight: `kept:` and the person id for
        records that keep last night's person, a new cluster's smallest record id otherwise.
    """
    redo_pairs = (
        links.filter(pl.col("match_probability") >= threshold)
        .join(redo.rename({"unique_id": "unique_id_l"}), on="unique_id_l", how="semi")
        .join(redo.rename({"unique_id": "unique_id_r"}), on="unique_id_r", how="semi")
    )
    fresh = constrained_clusters(
        prepared.join(redo, on="unique_id", how="semi"), redo_pairs, threshold, veto=veto
    )
    kept = previous.join(redo, on="unique_id", how="anti").select(
        "unique_id", pl.concat_str([pl.lit("kept:"), pl.col("person_id")]).alias("cluster_id")
    )
    return pl.concat([kept, fresh])
