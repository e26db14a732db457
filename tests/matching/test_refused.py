"""Links the clustering refuses are marked, and not counted among the links the product keeps."""

from __future__ import annotations

import polars as pl

from matching.cluster import constrained_clusters, mark_refused
from matching.evaluate import kept_pair_scores, pair_scores

# Two people of one household: a rare surname at one address, different first names. The
# council-tax record holds no date of birth. Two records of Oyelaran-Thwaite (h1, h2) are
# one person; h3 is his sister.
RECORDS = pl.DataFrame(
    {
        "unique_id": ["h1", "h2", "h3"],
        "nhs_number": ["4010232137", None, None],
        "upn": [None, None, None],
        "ni_number": [None, None, None],
        "dob": ["1988-03-14", None, "1991-07-02"],
        "first_name": ["TOBIAS", "TOBIAS", "MARGUERITE"],
        "first_name_group": ["TOBIAS", "TOBIAS", "MARGUERITE"],
        "last_name": ["OYELARANTHWAITE"] * 3,
        "source": ["health", "revenues_benefits", "health"],
    },
    schema_overrides={"upn": pl.String, "ni_number": pl.String},
)
TRUTH = pl.DataFrame({"unique_id": ["h1", "h2", "h3"], "person_id": [1, 1, 2]})


def test_a_household_link_above_the_threshold_is_refused_and_not_kept() -> None:
    pairs = pl.DataFrame(
        {
            "unique_id_l": ["h1", "h2", "h1"],
            "unique_id_r": ["h2", "h3", "h3"],
            # The sister's record scores above the threshold against the record with no
            # date of birth: a rare surname and one address outweigh two first names.
            "match_probability": [0.99, 0.95, 0.2],
        }
    )
    clusters = constrained_clusters(RECORDS, pairs, 0.9)
    assert clusters.sort("unique_id")["cluster_id"].to_list() == ["h1", "h1", "h3"]

    marked = mark_refused(pairs, clusters, 0.9).sort("unique_id_l", "unique_id_r")
    assert marked.select("unique_id_l", "unique_id_r", "refused_by_clustering").rows() == [
        ("h1", "h2", False),
        ("h1", "h3", False),  # below the threshold: never a link, so never refused
        ("h2", "h3", True),
    ]
    raw = pair_scores(marked, TRUTH, 0.9)
    kept = kept_pair_scores(marked, TRUTH, 0.9)
    assert (raw.true_positives, raw.predicted, raw.actual) == (1, 2, 1)
    assert (kept.true_positives, kept.predicted, kept.actual) == (1, 1, 1)
    assert kept.precision == 1.0 and raw.precision == 0.5
