"""`link files` on extracts these tests write: what training fell back on, said at the end
of the run; first names weighed where a source varies them; and each pair's evidence.

The people are made here from short lists of names, in households (one surname, one
address, two to four members with their own first names and birth dates), so a family
looks like one person on surname and address alone.
"""

from __future__ import annotations

import json
import logging
import math
import random
from pathlib import Path

import linkfiles as lf
import polars as pl
import pytest
from linkfiles import ALL

from matching.cluster import vetoes


def _true_pairs(pairs: pl.DataFrame, truth: dict[str, str]) -> pl.DataFrame:
    return pairs.with_columns(
        (
            pl.col("unique_id_l").replace_strict(truth, default=None)
            == pl.col("unique_id_r").replace_strict(truth, default=None)
        ).alias("true")
    )


@pytest.fixture(scope="module")
def no_dob_on_one_side(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A register with dates of birth and postcodes, and a list with names, sex and
    postcode only: 700 of its 900 people on the register, some with a slip of the surname."""
    folder = tmp_path_factory.mktemp("nodob")
    people = lf.people(450, seed=3)
    rng = random.Random(5)
    register = people.with_columns(pl.format("R{}", "person").alias("id"))
    on_both = people.sample(700, seed=7)
    others = lf.people(90, seed=11).with_columns(pl.format("X{}", "person").alias("person"))
    listed = pl.concat([on_both, others.head(200)]).with_columns(
        pl.format("L{}", "person").alias("id"),
        pl.col("surname").map_elements(
            lambda s: lf.slip(s, rng) if rng.random() < 0.1 else s, return_dtype=pl.String
        ),
    )
    register.write_csv(folder / "register.csv")
    listed.write_csv(folder / "listed.csv")
    truth = {f"register:{r}": p for r, p in register.select("id", "person").iter_rows()} | {
        f"listed:{r}": p for r, p in listed.select("id", "person").iter_rows()
    }
    lf.config(
        folder,
        {
            "register": ("first_name", "middle_name", "last_name", "dob", "sex", "postcode"),
            "listed": ("first_name", "last_name", "sex", "postcode"),
        },
        "mode: link, threshold: 0.9",
    )
    return folder, truth


def test_no_date_of_birth_on_one_side_estimates_the_prior_and_says_what_it_fell_back_on(
    no_dob_on_one_side: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder, truth = no_dob_on_one_side
    caplog.set_level(logging.WARNING)
    summary = lf.run(folder / "link.yaml", folder / "out")
    out = capsys.readouterr().out
    # No sure rule links the register with the list (no date of birth, no address line on
    # the list): the prior is estimated by EM over the scored pairs, near the truth's
    # 700 pairs in 900 x 1,350, not left at the model's 1 in 50,000.
    assert summary["prior_method"] == "EM over scored pairs"
    sizes = [s["records"] for s in summary["sources"].values()]  # type: ignore[attr-defined]
    true_prior = 700 / (sizes[0] * sizes[1])
    assert 0.5 < float(summary["prior"]) / true_prior < 2.0  # type: ignore[arg-type]
    fallbacks = summary["fallbacks"]
    assert isinstance(fallbacks, list)
    said = {f["what"]: f for f in fallbacks}
    assert "no sure rule can link listed with register" in said["prior"]["said"]
    assert "linkage.labels" in said["prior"]["do"]
    # The names: the session on them trains the rest, and no other block can train them
    # here (a postcode's pairs are mostly a family's: that session is undone), so they
    # keep Splink's defaults, and the run names them with what to do.
    assert "learned something other than 'same person'" in out
    assert "m of first_name, last_name: Splink's defaults" in said["m not trained"]["said"]
    assert "linkage.labels" in said["m not trained"]["do"]
    # All of it printed once, at the end, and Splink's per-level warnings not at all.
    tail = out.split("what this run fell back on", 1)[1]
    assert said["prior"]["said"] in tail and "EM on pairs sharing" in tail
    assert "Splink warned" in said["levels not seen"]["said"]
    assert not [r for r in caplog.records if "not observed in dataset" in r.getMessage()]
    # And the links are found: family members (one surname, one postcode) kept apart.
    pairs = _true_pairs(pl.read_csv(folder / "out" / "pairs.csv", infer_schema=False), truth)
    kept = pairs.filter(
        (pl.col("above_threshold") == "true") & (pl.col("refused_by_clustering") == "false")
    )
    assert kept["true"].sum() >= 0.9 * 700, kept["true"].sum()
    assert kept["true"].mean() >= 0.95  # type: ignore[operator]


def test_a_threshold_nothing_reaches_says_why(
    no_dob_on_one_side: tuple[Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, _ = no_dob_on_one_side
    summary = lf.run(folder / "link.yaml", tmp_path / "out", "--threshold", "0.99999999")
    out = capsys.readouterr().out
    assert summary["pairs_above_threshold"] == 0
    why = [f for f in summary["fallbacks"] if f["what"] == "0 links"]  # type: ignore[union-attr]
    assert why and "0 of" in why[0]["said"] and "needs evidence of" in why[0]["said"]
    assert "lower --threshold" in why[0]["do"]
    assert why[0]["said"] in out


def test_pairs_carry_the_compared_values_and_each_comparisons_weight(
    no_dob_on_one_side: tuple[Path, dict[str, str]], capfd: pytest.CaptureFixture[str]
) -> None:
    folder, _ = no_dob_on_one_side
    summary = lf.run(folder / "link.yaml", folder / "out-pairs")  # its own run: any order
    pairs = pl.read_csv(folder / "out-pairs" / "pairs.csv", infer_schema_length=None)
    for field in ("first_name", "last_name", "dob", "postcode"):
        assert {f"{field}_l", f"{field}_r"} <= set(pairs.columns)
    weights = [c for c in pairs.columns if c.endswith("_weight") and c != "match_weight"]
    assert {"first_name_weight", "last_name_weight", "address_weight"} <= set(weights)
    # The breakdown adds up: the prior's weight and each comparison's make the pair's.
    total = pairs.select(
        pl.sum_horizontal(weights) + summary["prior_weight"] - pl.col("match_weight")
    )
    assert total.to_series().abs().max() < 1e-6
    top = pairs.row(0, named=True)
    assert top["first_name_l"] and top["first_name_level"].startswith("Exact match")
    assert top["dob_level"] == "Date of birth missing" and top["dob_weight"] == 0
    # The values stay in the analyst's files: the run printed no name nor birth date.
    printed = capfd.readouterr()
    names = set(pairs["last_name_l"].drop_nulls()) | set(pairs["first_name_l"].drop_nulls())
    words = set((printed.out + printed.err).upper().replace(",", " ").split())
    assert names and not names & words
    assert not any(d in printed.out + printed.err for d in pairs["dob_l"].drop_nulls())


def _varied(folder: Path) -> dict[str, str]:
    """Two rolls of one town, and a third, small source that goes by middle names for half
    its people; all three with birth dates, sex and addresses."""
    people = lf.people(600, seed=21)
    rng = random.Random(23)
    a = people.with_columns(pl.format("A{}", "person").alias("id"))
    b = people.sample(1_600, seed=29).with_columns(pl.format("B{}", "person").alias("id"))
    c = (
        people.sample(24, seed=31)
        .with_columns(pl.format("C{}", "person").alias("id"))
        .with_columns(
            # Known by their middle name: the forename and middle name the other way round.
            pl.when(pl.Series([rng.random() < 0.5 for _ in range(24)]))
            .then(pl.col("middle"))
            .otherwise(pl.col("forename"))
            .alias("forename"),
        )
    )
    truth = {}
    for name, frame in (("a", a), ("b", b), ("c", c)):
        frame.write_csv(folder / f"{name}.csv")
        truth |= {f"{name}:{i}": p for i, p in frame.select("id", "person").iter_rows()}
    return truth


@pytest.mark.parametrize("named", [False, True], ids=["found", "named"])
def test_a_source_that_varies_first_names_links_on_the_rest_of_the_evidence(
    named: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = _varied(tmp_path)
    linkage = "mode: link, threshold: 0.9" + (", first_names_vary: [c]" if named else "")
    lf.config(tmp_path, {"a": ALL, "b": ALL, "c": ALL}, linkage)
    summary = lf.run(tmp_path / "link.yaml", tmp_path / "out")
    out = capsys.readouterr().out
    varies = summary["first_names_vary"]
    assert isinstance(varies, dict)
    if named:
        assert varies["c"] == "named"
    else:  # found from the pairs the rest of the evidence is sure of
        assert varies["c"]["refused"] > 0.2 * varies["c"]["sure_pairs"]
        assert "a" not in varies and "b" not in varies
    assert "c's first names are weighed, not a veto" in out
    # Too few of all the pairs for the model to drop the first-name veto everywhere: it
    # holds for A and B, and is lifted for C's records only.
    model = json.loads((tmp_path / "out" / "model.json").read_text())["splink_model"]
    assert "first_name" in vetoes(model)
    # No NHS numbers: the surname is trained by another session, and the run says which.
    assert "m of last_name trained by EM on pairs sharing address_line" in out
    pairs = _true_pairs(pl.read_csv(tmp_path / "out" / "pairs.csv", infer_schema=False), truth)
    # C's people who go by their middle name: first names that do not fit, the rest strong.
    renamed = pairs.filter(
        pl.col("true")
        & (pl.col("source_r") == "c")
        & (pl.col("first_name_level") == "All other comparisons")
    )
    assert renamed.height >= 12
    assert (renamed["first_name_weight"].cast(pl.Float64) < 0).all()
    linked = renamed.filter(pl.col("above_threshold") == "true")
    assert linked.height >= 0.9 * renamed.height
    assert (linked["refused_by_clustering"] == "false").all()
    # Nowhere else is the first name less of a check: no family put together.
    kept = pairs.filter(
        (pl.col("above_threshold") == "true") & (pl.col("refused_by_clustering") == "false")
    )
    assert kept["true"].all()
    clusters = pl.read_csv(tmp_path / "out" / "clusters.csv", infer_schema=False)
    persons = (
        clusters.with_columns(pl.col("unique_id").replace_strict(truth).alias("person"))
        .group_by("cluster_id")
        .agg(pl.col("person").n_unique())
    )
    assert persons["person"].max() == 1
    assert math.isfinite(float(summary["prior"]))  # type: ignore[arg-type]
