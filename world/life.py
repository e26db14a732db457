"""Life between nights: people move, are born, die, and marry and take a new surname.

The result is a set of change logs keyed by night index (0 is the first night), from
which the truth on any night is read with `where_on`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from world.config import WorldConfig
from world.identifiers import nhs_numbers
from world.population import Population, _mixed_to_parent_group, _names_by
from world.vocab import Vocab


@dataclass(frozen=True)
class Timeline:
    """Everyone who lives at any night, and what changed for them night by night."""

    people: pl.DataFrame  # adds born_night, died_night to the population's people
    residence: pl.DataFrame  # person_id, night, household_id, address_id
    surnames: pl.DataFrame  # person_id, night, last_name
    events: pl.DataFrame  # night, person_id, kind, detail

    def where_on(self, night: int) -> pl.DataFrame:
        """Everyone born by a night, dead or alive: household, address and surname then."""
        res = (
            self.residence.filter(pl.col("night") <= night)
            .sort("night")
            .group_by("person_id")
            .last()
            .drop("night")
        )
        sur = (
            self.surnames.filter(pl.col("night") <= night)
            .sort("night")
            .group_by("person_id")
            .last()
            .drop("night")
        )
        return res.join(sur, on="person_id").with_columns(pl.lit(night, pl.Int64).alias("night"))


def simulate_nights(
    cfg: WorldConfig, rng: np.random.Generator, vocab: Vocab, pop: Population
) -> Timeline:
    """Run the configured life-event rates over nights 1..K-1."""
    rates = cfg.nightly
    people = pop.people
    n0 = people.height
    hh_of = people["household_id"].to_numpy().copy()
    sex = people["sex"].to_numpy().astype(str)
    dob = people["dob"].cast(pl.Int64).to_numpy()
    naming = _mixed_to_parent_group(rng, people["ethnicity"].to_numpy().astype(str))
    ethnicity = people["ethnicity"].to_numpy().astype(str)
    surname = people["last_name"].to_numpy().astype(object)
    alive = np.ones(n0, dtype=bool)
    addr_of_hh = pop.households["address_id"].to_numpy().copy()
    n_addr = pop.addresses.height

    res_rows: list[pl.DataFrame] = [
        pl.DataFrame(
            {
                "person_id": np.arange(n0),
                "night": 0,
                "household_id": hh_of.copy(),
                "address_id": addr_of_hh[hh_of],
            }
        )
    ]
    sur_rows: list[pl.DataFrame] = [
        pl.DataFrame({"person_id": np.arange(n0), "night": 0, "last_name": surname.astype(str)})
    ]
    ev_rows: list[pl.DataFrame] = []
    births: list[pl.DataFrame] = []
    died_night = np.full(n0, -1, dtype=np.int64)
    born_night = np.full(n0, -1, dtype=np.int64)
    epoch = dt.date(1970, 1, 1)

    def log(night: int, ids: np.ndarray, kind: str, detail: np.ndarray | str = "") -> None:
        if len(ids):
            ev_rows.append(
                pl.DataFrame(
                    {
                        "night": night,
                        "person_id": ids.astype(np.int64),
                        "kind": kind,
                        "detail": detail,
                    }
                ).cast({"detail": pl.String})
            )

    for night, date in enumerate(cfg.night_dates()[1:], start=1):
        today = (date - epoch).days
        age = (today - dob) / 365.25
        occupied = np.zeros(n_addr, dtype=bool)
        occupied[addr_of_hh[np.unique(hh_of[alive])]] = True
        vacant = np.flatnonzero(~occupied)
        rng.shuffle(vacant)

        moved_ids: list[np.ndarray] = []
        # Households that move, all members together.
        live_hh = np.unique(hh_of[alive])
        movers = live_hh[rng.random(len(live_hh)) < rates.move][: len(vacant) // 2]
        addr_of_hh[movers] = vacant[: len(movers)]
        members = np.flatnonzero(alive & np.isin(hh_of, movers))
        log(night, members, "move")
        moved_ids.append(members)

        # Marriage: a single adult living alone joins another's household and surname.
        hh_size = np.bincount(hh_of[alive], minlength=len(addr_of_hh))
        single = alive & (hh_size[hh_of] == 1) & (age >= 20) & (age < 60)
        brides = np.flatnonzero(single & (sex == "F") & (rng.random(len(sex)) < rates.marriage))
        grooms = np.flatnonzero(single & (sex == "M"))
        grooms = rng.permutation(grooms)[: len(brides)]
        brides = brides[: len(grooms)]
        if len(brides):
            takes_name = rng.random(len(brides)) < 0.85
            new_names = surname[grooms]
            old = surname[brides].copy()
            surname[brides[takes_name]] = new_names[takes_name]
            hh_of[brides] = hh_of[grooms]
            log(
                night,
                brides,
                "marriage",
                np.char.add(np.char.add(old.astype(str), " > "), surname[brides].astype(str)),
            )
            moved_ids.append(brides)
            changed = brides[takes_name]
            sur_rows.append(
                pl.DataFrame(
                    {
                        "person_id": changed,
                        "night": night,
                        "last_name": surname[changed].astype(str),
                    }
                )
            )

        # Deaths, rising steeply with age.
        p_die = np.clip(rates.death * np.exp(0.1 * (age - 80)), 0, 0.5)
        dead = np.flatnonzero(alive & (rng.random(len(alive)) < p_die))
        alive[dead] = False
        died_night[dead] = night
        log(night, dead, "death")

        # Births: the baby joins the mother's household and surname.
        mothers = np.flatnonzero(
            alive & (sex == "F") & (age >= 18) & (age < 45) & (rng.random(len(sex)) < rates.birth)
        )
        k = len(mothers)
        if k:
            start = len(hh_of)
            ids = np.arange(start, start + k)
            b_sex = np.where(rng.random(k) < 0.51, "M", "F")
            b_first = _names_by(rng, vocab, naming[mothers], b_sex)
            births.append(
                pl.DataFrame(
                    {
                        "person_id": ids,
                        "first_name": b_first.astype(str),
                        "middle_name": None,
                        "birth_surname": surname[mothers].astype(str),
                        "sex": b_sex,
                        "dob": pl.Series(np.full(k, today - 1)).cast(pl.Date),
                        "ethnicity": ethnicity[mothers],
                        "role": "child",
                        "twin_of": None,
                        "nhs_number": nhs_numbers(rng, k),
                        "ni_number": None,
                        "mother_id": mothers,
                    }
                ).cast({"middle_name": pl.String, "twin_of": pl.Int64, "ni_number": pl.String})
            )
            hh_of = np.concatenate([hh_of, hh_of[mothers]])
            sex = np.concatenate([sex, b_sex])
            dob = np.concatenate([dob, np.full(k, today - 1)])
            naming = np.concatenate([naming, naming[mothers]])
            ethnicity = np.concatenate([ethnicity, ethnicity[mothers]])
            surname = np.concatenate([surname, surname[mothers]])
            alive = np.concatenate([alive, np.ones(k, dtype=bool)])
            died_night = np.concatenate([died_night, np.full(k, -1)])
            born_night = np.concatenate([born_night, np.full(k, night)])
            log(night, ids, "birth")
            moved_ids.append(ids)
            sur_rows.append(
                pl.DataFrame(
                    {"person_id": ids, "night": night, "last_name": surname[ids].astype(str)}
                )
            )

        changed = np.unique(np.concatenate(moved_ids)) if moved_ids else np.array([], np.int64)
        res_rows.append(
            pl.DataFrame(
                {
                    "person_id": changed,
                    "night": night,
                    "household_id": hh_of[changed],
                    "address_id": addr_of_hh[hh_of[changed]],
                }
            )
        )

    everyone = people.with_columns(pl.lit(None, pl.Int64).alias("mother_id"))
    if births:
        born = pl.concat(births).with_columns(
            pl.lit(None, pl.Int64).alias("household_id"),
            pl.lit(None, pl.String).alias("last_name"),
            pl.lit(None, pl.String).alias("upn"),
        )
        everyone = pl.concat([everyone, born.select(everyone.columns)], how="vertical_relaxed")
    everyone = everyone.with_columns(
        pl.Series("born_night", born_night).replace(-1, None),
        pl.Series("died_night", died_night).replace(-1, None),
    )
    return Timeline(
        people=everyone,
        residence=pl.concat(res_rows).cast(
            {
                "person_id": pl.Int64,
                "night": pl.Int64,
                "household_id": pl.Int64,
                "address_id": pl.Int64,
            }
        ),
        surnames=pl.concat(sur_rows).cast({"person_id": pl.Int64, "night": pl.Int64}),
        events=pl.concat(ev_rows)
        if ev_rows
        else pl.DataFrame(
            schema={
                "night": pl.Int64,
                "person_id": pl.Int64,
                "kind": pl.String,
                "detail": pl.String,
            }
        ),
    )
