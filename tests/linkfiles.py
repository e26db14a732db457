"""Extracts the tests of `link files` write themselves: people in households, from short
lists of names, and configs that map their columns as an analyst would."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import polars as pl

from pipelines.cli import main

FIRST = [
    "AMELIA",
    "OLIVER",
    "ISLA",
    "GEORGE",
    "POPPY",
    "NOAH",
    "IVY",
    "ARTHUR",
    "FREYA",
    "LEO",
    "WILLOW",
    "OSCAR",
    "DAISY",
    "HARRY",
    "ROSIE",
    "JACK",
    "ELSIE",
    "THEO",
    "MILA",
    "FINLEY",
    "LUNA",
    "REUBEN",
    "HAZEL",
    "TOBY",
    "NANCY",
    "RORY",
    "PHOEBE",
    "ELLIS",
    "MAISIE",
    "HUGO",
    "ZARA",
    "FELIX",
    "EDITH",
    "JUDE",
    "QUINN",
    "SIENNA",
    "DEXTER",
    "ORLA",
    "MILES",
    "TILLY",
]
LAST = [
    "ABBOTT",
    "BRENNAN",
    "CARVER",
    "DUNMORE",
    "ELLWOOD",
    "FAIRBANK",
    "GARSIDE",
    "HOLLOWAY",
    "INGHAM",
    "JARVIS",
    "KILBRIDE",
    "LOCKWOOD",
    "MARSDEN",
    "NORCLIFFE",
    "OAKLEY",
    "PENROSE",
    "QUARMBY",
    "RADCLIFFE",
    "SUTCLIFFE",
    "THACKERAY",
    "UTTLEY",
    "VARLEY",
    "WAINWRIGHT",
    "YEADON",
    "ASHWORTH",
    "BARRACLOUGH",
    "CROWTHER",
    "DRANSFIELD",
]
STREETS = ("MILL LANE", "STATION ROAD", "CHAPEL STREET", "PARK AVENUE", "CHURCH WALK")
SOURCE = """
  {name}:
    agency: {name}
    kind: csv
    location: .
    tables:
      - name: people
        file: {name}.csv
        person_records:
{fields}"""
FIELDS = {
    "source_record_id": "id",
    "first_name": "forename",
    "middle_name": "middle",
    "last_name": "surname",
    "dob": "{column: born, format: '%Y-%m-%d'}",
    "sex": "sex",
    "address": "address",
    "postcode": "postcode",
}


def people(n_households: int, seed: int) -> pl.DataFrame:
    """Households of two to four people: one surname, address and postcode each."""
    rng = random.Random(seed)
    rows = []
    for h in range(n_households):
        last = rng.choice(LAST)
        street = f"{rng.randint(1, 200)} {rng.choice(STREETS)}"
        unit = f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"
        postcode = f"LS{rng.randint(1, 29)} {unit}"
        firsts = rng.sample(FIRST, rng.randint(2, 4))
        for i, first in enumerate(firsts):
            born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 27_000))
            rows.append(
                {
                    "person": f"H{h}P{i}",
                    "forename": first,
                    "middle": rng.choice([f for f in FIRST if f != first]),
                    "surname": last,
                    "born": born.isoformat(),
                    "sex": rng.choice("MF"),
                    "address": street,
                    "postcode": postcode,
                }
            )
    return pl.DataFrame(rows)


def slip(name: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def config(folder: Path, sources: dict[str, tuple[str, ...]], linkage: str) -> Path:
    """A link-files config: each source with the fields it has, as an analyst maps them."""
    body = "".join(
        SOURCE.format(
            name=name,
            fields="".join(f"          {f}: {FIELDS[f]}\n" for f in ("source_record_id", *fields)),
        )
        for name, fields in sources.items()
    )
    path = folder / "link.yaml"
    path.write_text(f"linkage: {{{linkage}, u_sample_pairs: 200000}}\nsources:{body}")
    return path


def run(config: Path, out: Path, *extra: str) -> dict[str, object]:
    assert main(["link", "files", "--config", str(config), "--out", str(out), *extra]) == 0
    summary: dict[str, object] = json.loads((out / "summary.json").read_text())
    return summary


ALL = ("first_name", "middle_name", "last_name", "dob", "sex", "address", "postcode")


def judged_run(folder: Path) -> tuple[Path, dict[str, str]]:
    """Two rolls of one town linked by `link files`, with 30 pairs an analyst judged (20
    of one person, 10 of two members of one family): the out folder, and who is who."""
    everyone = people(300, seed=41)
    a = everyone.with_columns(pl.format("A{}", "person").alias("id"))
    b = everyone.sample(600, seed=43).with_columns(pl.format("B{}", "person").alias("id"))
    a.write_csv(folder / "a.csv")
    b.write_csv(folder / "b.csv")
    truth = {f"a:{i}": p for i, p in a.select("id", "person").iter_rows()} | {
        f"b:{i}": p for i, p in b.select("id", "person").iter_rows()
    }
    same = [(f"a:A{p}", f"b:B{p}", "match") for p in b["person"].head(20)]
    family = (
        a.join(b, on=["surname", "address"], suffix="_b")
        .filter(pl.col("person") != pl.col("person_b"))
        .head(10)
    )
    other = [(f"a:{x}", f"b:{y}", "non-match") for x, y in family.select("id", "id_b").iter_rows()]
    pl.DataFrame(
        same + other, schema=["unique_id_l", "unique_id_r", "label"], orient="row"
    ).write_csv(folder / "judged.csv")
    config(folder, {"a": ALL, "b": ALL}, "mode: link, threshold: 0.9, labels: judged.csv")
    run(folder / "link.yaml", folder / "out")
    return folder / "out", truth
