"""`link files` with `task: households`: records of people who live together, together.

Households are made from the place and the surname, not from who each record is: a
mother's and her son's records are of one household, and so are a couple with two
surnames. Records at one dwelling are one household by rule; the model links records
whose addresses are written differently, where the surname bears it out.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from matching.evaluate import blocking_recall
from matching.prepare import LINKAGE_COLUMNS, address_line, prepare
from pipelines.cli import main

# Sixty houses on six streets, two to four people each; a few members carry another
# surname (a partner, a lodger). First names say nothing of who lives with whom.
STREETS = ["Mill Lane", "Quay Street", "Orchard Rise", "Wren View", "Station Road", "Elm Close"]
SURNAMES = ["OKAFOR", "BRENNAN", "NOWAK", "PATEL", "HUGHES", "LEE", "MORGAN", "ADEYEMI", "SHAW"]
HOMES = [
    (
        f"{2 * (h // 6) + 1} {STREETS[h % 6]}",
        [SURNAMES[h % 9] if m != 2 else SURNAMES[(h + 4) % 9] for m in range(2 + h % 3)],
    )
    for h in range(60)
]
# Three flats of one block, three families: three households at one house number and
# street. (Two flats of one surname would be linked by the model, which compares the
# house number and street but not the flat.)
HOMES += [
    (f"Flat {n}, 40 Wren View", [name, name]) for n, name in enumerate(("ABARA", "KHAN", "DOYLE"))
]
FIRST = ["ANN", "BEN", "CARYS", "DEV", "ELLA", "FINN", "GWEN", "HARI"]
CONFIG = """
linkage: {mode: dedupe, task: households, threshold: 0.9, u_sample_pairs: 10000}
sources:
  housing:
    agency: housing
    kind: csv
    location: .
    tables:
      - name: residents
        file: residents.csv
        person_records:
          source_record_id: id
          first_name: first
          last_name: last
          address: address
          town: town
"""


def _residents() -> pl.DataFrame:
    rows = []
    for home, (address, surnames) in enumerate(HOMES):
        for member, surname in enumerate(surnames):
            rows.append((f"{home}-{member}", FIRST[member], surname, address, "Millbrook", home))
            # The same person again, the address written another way (a slip in the street).
            if member == 0:
                slipped = address.replace("Lane", "Lnae").replace("Street", "Steet")
                rows.append(
                    (f"{home}-{member}b", FIRST[member], surname, slipped, "Millbrook", home)
                )
    return pl.DataFrame(
        rows, schema=["id", "first", "last", "address", "town", "home"], orient="row"
    )


def test_records_are_grouped_by_dwelling_whatever_their_surnames(tmp_path: Path) -> None:
    residents = _residents()
    residents.drop("home").write_csv(tmp_path / "residents.csv")
    (tmp_path / "link.yaml").write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["link", "files", "--config", str(tmp_path / "link.yaml"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "households"
    clusters = pl.read_csv(out / "clusters.csv", infer_schema=False)
    found = clusters.join(
        residents.select(pl.format("housing:{}", "id").alias("unique_id"), "home"),
        on="unique_id",
    )
    # Each home is one cluster, and no cluster spans two homes: next door shares a street
    # and often a surname, and is another household; so is the flat upstairs.
    assert found.group_by("home").agg(pl.col("cluster_id").n_unique())["cluster_id"].max() == 1
    assert found.group_by("cluster_id").agg(pl.col("home").n_unique())["home"].max() == 1
    assert clusters["cluster_id"].n_unique() == len(HOMES)
    # EM trained every comparison, none from another session, labels or defaults.
    assert not [f for f in summary["fallbacks"] if f["what"].startswith("m ")]


def test_one_record_per_person_is_refused_for_households(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _residents().drop("home").write_csv(tmp_path / "residents.csv")
    text = CONFIG.replace(
        "task: households,", "task: households, one_record_per_person: [housing],"
    )
    (tmp_path / "link.yaml").write_text(text)
    out = tmp_path / "out"
    assert main(["link", "files", "--config", str(tmp_path / "link.yaml"), "--out", str(out)]) == 2
    assert "one_record_per_person is for persons" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("address", "number", "street"),
    [
        ("52, faucett street, miami", "52", "FAUCETT STREET"),
        ("delacorte dr", None, "DELACORTE DR"),
        ("Flat 1, 14 Wren View", "14", "WREN VIEW"),
        ("PO Box 12", None, None),
    ],
)
def test_the_house_number_and_street_are_read_apart(
    address: str, number: str | None, street: str | None
) -> None:
    records = pl.DataFrame({"address": [address]}).with_columns(
        pl.lit(None, pl.String).alias(c)
        for c in ("source", "source_record_id", "first_name", "middle_name", "last_name")
    )
    records = records.with_columns(
        pl.lit(None, pl.Date).alias("dob"),
        *(
            pl.lit(None, pl.String).alias(c)
            for c in ("sex", "postcode", "uprn", "nhs_number", "upn", "ni_number")
        ),
    )
    got = prepare(records).row(0, named=True)
    assert (got["house_number"], got["street"]) == (number, street)
    assert pl.select(address_line(pl.lit(address))).item() == (
        f"{number} {street}" if number and street else None
    )


def test_blocking_recall_counts_the_true_pairs_each_rule_brings_together() -> None:
    rows = pl.DataFrame(
        {
            "unique_id": ["a", "b", "c", "d"],
            "first_name": ["ANN", "ANN", "BEN", None],
            "dob": ["1990-01-01", "1990-01-02", "1990-01-02", "1990-01-02"],
        }
    ).with_columns(
        pl.lit(None, pl.String).alias(c)
        for c in LINKAGE_COLUMNS
        if c not in ("unique_id", "first_name", "dob", "surname_parts")
    )
    model = {
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": "l.first_name = r.first_name"},
            {"blocking_rule": "l.dob = r.dob"},
        ]
    }
    true_pairs = pl.DataFrame({"unique_id_l": ["a", "b", "c"], "unique_id_r": ["b", "d", "a"]})
    got = blocking_recall(rows, model, true_pairs)
    assert got["pairs"].to_list() == [1, 1]  # a-b by name; b-d by birth date (d's name blank)
    assert got["cumulative"].to_list() == pytest.approx([1 / 3, 2 / 3])  # c-a: nothing
