"""The professionals: each agency's teams, its staff with work emails, and its schools.

Who is allocated to whom is decided here too, stably: a person's allocated worker in an
agency is a member of the team for the locality they live in, and stays the same from
night to night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from world.population import _names_by, _surnames_by
from world.vocab import ETHNIC_GROUPS, Vocab

# agency: (email domain, team kinds, professionals per 10,000 residents per team kind, role)
AGENCIES: dict[str, tuple[str, tuple[str, ...], float, str]] = {
    "childrens_social_care": (
        "childrens.council.example",
        ("Assessment", "Child in Need"),
        3.0,
        "Social Worker",
    ),
    "adult_social_care": ("adults.council.example", ("Community Care",), 4.0, "Care Manager"),
    "housing": ("housing.council.example", ("Tenancy Management",), 3.0, "Housing Officer"),
    "police": (
        "police.example",
        ("Neighbourhood Policing", "Public Protection"),
        3.0,
        "Officer in Charge",
    ),
    "health": ("nhs-trust.example", ("Community Mental Health",), 2.0, "Care Coordinator"),
    "revenues_benefits": ("revenues.council.example", ("Benefits",), 1.0, "Benefits Officer"),
}
PUPILS_PER_PRIMARY = 300
PUPILS_PER_SECONDARY = 1000
LA_CODE = 901  # a local authority number no real council uses


@dataclass(frozen=True)
class Directory:
    """Teams, professionals and schools of every agency."""

    teams: pl.DataFrame
    professionals: pl.DataFrame
    schools: pl.DataFrame


def _slug(text: str) -> str:
    return "".join(c for c in text.lower().replace(" ", "-") if c.isalnum() or c == "-")


def build_directory(rng: np.random.Generator, vocab: Vocab, people: int) -> Directory:
    """Staff every agency in proportion to the population, in teams by locality."""
    localities = sorted(set(vocab.areas["locality"].to_list()))
    teams: list[dict[str, object]] = []
    for agency, (domain, kinds, per_10k, role) in AGENCIES.items():
        for kind in kinds:
            for loc in localities:
                team_name = f"{kind} Team {loc}"
                teams.append(
                    {
                        "team_id": f"{agency[:3].upper()}-{_slug(kind)}-{_slug(loc)}",
                        "agency": agency,
                        "team": team_name,
                        "locality": loc,
                        "role": role,
                        "duty_email": f"{_slug(kind)}-{_slug(loc)}-duty@{domain}",
                        "size": max(2, round(people / 10_000 * per_10k / len(localities))),
                    }
                )
    team_frame = pl.DataFrame(teams)
    sizes = team_frame["size"].to_numpy()
    team_of = np.repeat(np.arange(len(teams)), sizes)
    n = len(team_of)
    groups = rng.choice(
        np.array(list(ETHNIC_GROUPS)),
        n,
        p=np.array(list(ETHNIC_GROUPS.values())) / sum(ETHNIC_GROUPS.values()),
    )
    groups = np.where(groups == "mixed", "white_british", groups)
    sex = np.where(rng.random(n) < 0.6, "F", "M")
    given = _names_by(rng, vocab, groups, sex).astype(str)
    family = _surnames_by(rng, vocab, groups).astype(str)
    domains = np.array([AGENCIES[a][0] for a in team_frame["agency"].to_list()])[team_of]
    local = [
        f"{_slug(f)}.{_slug(s)}{i % 97 if i % 7 == 0 else ''}"
        for i, (f, s) in enumerate(zip(given, family, strict=True))
    ]
    pros = pl.DataFrame(
        {
            "professional_id": [f"PRO{i + 1:05d}" for i in range(n)],
            "team_id": team_frame["team_id"].to_numpy()[team_of],
            "agency": team_frame["agency"].to_numpy()[team_of],
            "name": np.char.add(np.char.add(given, " "), family),
            "role": team_frame["role"].to_numpy()[team_of],
            "email": np.char.add(np.char.add(np.array(local, dtype=str), "@"), domains),
            "slot": np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes),
        }
    )
    schools = _schools(rng, vocab, people, localities)
    return Directory(teams=team_frame.drop("size"), professionals=pros, schools=schools)


def _schools(
    rng: np.random.Generator, vocab: Vocab, people: int, localities: list[str]
) -> pl.DataFrame:
    pupils = people * 0.14
    n_primary = max(len(localities), round(pupils * 0.6 / PUPILS_PER_PRIMARY))
    n_secondary = max(2, round(pupils * 0.4 / PUPILS_PER_SECONDARY))
    rows = []
    stems = vocab.streets["name"].unique().sort().to_list()
    pick = rng.choice(len(stems), n_primary + n_secondary, replace=False)
    for i in range(n_primary + n_secondary):
        phase = "primary" if i < n_primary else "secondary"
        loc = localities[i % len(localities)]
        name = f"{stems[pick[i]]} {'Primary School' if phase == 'primary' else 'Academy'}"
        sex = "F" if rng.random() < 0.7 else "M"
        lead_first = str(_names_by(rng, vocab, np.array(["white_british"]), np.array([sex]))[0])
        lead_last = str(_surnames_by(rng, vocab, np.array(["white_british"]))[0])
        domain = f"{_slug(name)}.sch.example"
        rows.append(
            {
                "urn": 130_000 + i * 37,
                "estab": 2000 + i if phase == "primary" else 4000 + i,
                "school": name,
                "phase": phase,
                "locality": loc,
                "dsl_name": f"{lead_first} {lead_last}",
                "dsl_email": f"{_slug(lead_first)}.{_slug(lead_last)}@{domain}",
            }
        )
    return pl.DataFrame(rows)


def allocate(
    people: pl.DataFrame,
    pros: pl.DataFrame,
    teams: pl.DataFrame,
    agency: str,
    kind_index: pl.Expr | None = None,
) -> pl.DataFrame:
    """The professional allocated to each person (person_id, locality) in an agency."""
    t = teams.filter(pl.col("agency") == agency).with_columns(
        pl.col("team_id").rank("ordinal").over("locality").sub(1).alias("kind_no")
    )
    sizes = pros.group_by("team_id").agg(pl.len().alias("team_size"))
    kinds = t.group_by("locality").agg(pl.len().alias("n_kinds"))
    chosen = (
        people.join(kinds, on="locality", how="left")
        .with_columns(
            ((kind_index if kind_index is not None else pl.lit(0)) % pl.col("n_kinds")).alias(
                "kind_no"
            )
        )
        .join(t.select("locality", "kind_no", "team_id"), on=["locality", "kind_no"], how="left")
    )
    chosen = chosen.join(sizes, on="team_id", how="left").with_columns(
        ((pl.col("person_id") * 2_654_435_761 % 4_294_967_291) % pl.col("team_size"))
        .cast(pl.Int64)
        .alias("slot")
    )
    return chosen.join(
        pros.select("team_id", "slot", "professional_id", "name", "email"),
        on=["team_id", "slot"],
        how="left",
    ).drop("n_kinds", "kind_no", "team_size", "slot")
