"""The people of the world: addresses, households and the people who live in them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from world.config import WorldConfig
from world.identifiers import nhs_numbers, ni_numbers, uprns
from world.vocab import ETHNIC_GROUPS, Vocab

# Household kinds: share of households, adults (min, max), children (min, max), adult ages.
HOUSEHOLD_KINDS: dict[str, tuple[float, tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "couple_with_children": (0.19, (2, 2), (1, 4), (24, 55)),
    "lone_parent": (0.08, (1, 1), (1, 4), (18, 55)),
    "couple": (0.18, (2, 2), (0, 0), (22, 64)),
    "single_adult": (0.20, (1, 1), (0, 0), (18, 64)),
    "older_single": (0.14, (1, 1), (0, 0), (65, 99)),
    "older_couple": (0.11, (2, 2), (0, 0), (65, 95)),
    "house_share": (0.06, (3, 5), (0, 0), (18, 40)),
    "multigenerational": (0.04, (3, 4), (1, 3), (20, 85)),
}
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
_EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Population:
    """The world as it stands on the first night."""

    addresses: pl.DataFrame
    households: pl.DataFrame
    people: pl.DataFrame


def _addresses(rng: np.random.Generator, vocab: Vocab, n: int) -> pl.DataFrame:
    areas = vocab.areas
    ward_idx = rng.integers(0, areas.height, n)
    # Streets are laid out within a ward: about 40 addresses to a street, 14 to a postcode.
    street_of = ward_idx * 10_000 + rng.integers(0, max(1, n // (40 * areas.height)) + 1, n)
    order = np.lexsort((rng.random(n), street_of))
    ward_idx, street_of = ward_idx[order], street_of[order]
    _, street_id = np.unique(street_of, return_inverse=True)
    street_pick = rng.integers(0, vocab.streets.height, street_id.max() + 1)[street_id]
    number = np.empty(n, dtype=np.int64)
    _, starts, counts = np.unique(street_id, return_index=True, return_counts=True)
    for s, c in zip(starts, counts, strict=True):
        number[s : s + c] = np.arange(1, c + 1)
    flat = np.where(rng.random(n) < 0.15, rng.integers(1, 9, n), 0)
    district = areas["postcode_district"].to_numpy().astype(str)[ward_idx]
    # About 14 addresses share a postcode; a street's postcodes lie in one sector.
    postcode_seq = np.arange(n) // 14
    sector = (street_id * 7) % 10
    unit = (
        _UNIT_LETTERS[(postcode_seq // 20) % 20].astype(object) + _UNIT_LETTERS[postcode_seq % 20]
    )
    postcodes = np.char.add(
        np.char.add(district, " "), np.char.add(sector.astype(str), unit.astype(str))
    )
    streets = vocab.streets
    street_name = np.char.add(
        np.char.add(streets["name"].to_numpy().astype(str)[street_pick], " "),
        streets["kind"].to_numpy().astype(str)[street_pick],
    )
    return pl.DataFrame(
        {
            "address_id": np.arange(n, dtype=np.int64),
            "uprn": uprns(n),
            "flat": flat,
            "house_number": number,
            "street": street_name,
            "locality": areas["locality"].to_numpy().astype(str)[ward_idx],
            "ward": areas["ward"].to_numpy().astype(str)[ward_idx],
            "postcode": postcodes,
        }
    )


def _draw_group(rng: np.random.Generator, n: int) -> np.ndarray:
    groups = np.array(list(ETHNIC_GROUPS))
    p = np.array(list(ETHNIC_GROUPS.values()))
    return rng.choice(groups, n, p=p / p.sum())


def _names_by(
    rng: np.random.Generator, vocab: Vocab, groups: np.ndarray, sexes: np.ndarray
) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for (g, s), table in vocab.first.items():
        idx = np.flatnonzero((groups == g) & (sexes == s))
        if len(idx):
            out[idx] = table.draw(rng, len(idx))
    return out


def _surnames_by(rng: np.random.Generator, vocab: Vocab, groups: np.ndarray) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for g, table in vocab.surnames.items():
        idx = np.flatnonzero(groups == g)
        if len(idx):
            out[idx] = table.draw(rng, len(idx))
    return out


def _mixed_to_parent_group(rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
    """People of mixed heritage are named from one parent's tradition or the other."""
    naming = groups.copy()
    mixed = naming == "mixed"
    others = np.array([g for g in ETHNIC_GROUPS if g != "mixed"])
    naming[mixed] = np.where(
        rng.random(mixed.sum()) < 0.5, "white_british", rng.choice(others, mixed.sum())
    )
    return naming


def build_population(cfg: WorldConfig, rng: np.random.Generator, vocab: Vocab) -> Population:
    """Households of the kinds a council area has, filled until there are cfg.people people."""
    kinds = list(HOUSEHOLD_KINDS)
    shares = np.array([HOUSEHOLD_KINDS[k][0] for k in kinds])
    mean_size = sum(
        HOUSEHOLD_KINDS[k][0] * (sum(HOUSEHOLD_KINDS[k][1]) / 2 + sum(HOUSEHOLD_KINDS[k][2]) / 2)
        for k in kinds
    )
    n_house = int(cfg.people / mean_size * 1.05) + 10
    kind_idx = rng.choice(len(kinds), n_house, p=shares / shares.sum())
    adults = np.zeros(n_house, dtype=np.int64)
    children = np.zeros(n_house, dtype=np.int64)
    for i, k in enumerate(kinds):
        _, (a0, a1), (c0, c1), _ = HOUSEHOLD_KINDS[k]
        m = kind_idx == i
        adults[m] = rng.integers(a0, a1 + 1, m.sum())
        children[m] = rng.integers(c0, c1 + 1, m.sum())
    size = adults + children
    keep = np.cumsum(size) <= cfg.people
    if keep.sum() < len(keep):  # top up the last household so the count is exact
        last = keep.sum()
        adults[last], children[last] = cfg.people - size[keep].sum(), 0
        keep[last] = adults[last] > 0
    kind_idx, adults, children = kind_idx[keep], adults[keep], children[keep]
    n_house = len(kind_idx)
    size = adults + children

    n_addr = int(n_house / (1 - cfg.population.vacant_addresses)) + 1
    addresses = _addresses(rng, vocab, n_addr)
    home = rng.permutation(n_addr)[:n_house]
    previous = rng.integers(0, n_addr, n_house)
    years_here = rng.exponential(6.0, n_house)

    house_group = _draw_group(rng, n_house)
    double = rng.random(n_house) < cfg.population.double_barrelled
    family_name = _surnames_by(rng, vocab, _mixed_to_parent_group(rng, house_group))
    family_name[double] = rng.choice(vocab.double_barrelled, double.sum())
    households = pl.DataFrame(
        {
            "household_id": np.arange(n_house, dtype=np.int64),
            "kind": np.array(kinds)[kind_idx],
            "address_id": home,
            "previous_address_id": previous,
            "moved_in": [cfg.first_night - dt.timedelta(days=int(y * 365)) for y in years_here],
        }
    )

    # One row a person: adults first in each household, then children.
    hh = np.repeat(np.arange(n_house), size)
    pos = np.arange(len(hh)) - np.repeat(np.cumsum(size) - size, size)
    is_adult = pos < adults[hh]
    kind_of = kind_idx[hh]
    n = len(hh)
    age = np.zeros(n)
    lo = np.array([HOUSEHOLD_KINDS[k][3][0] for k in kinds])[kind_of]
    hi = np.array([HOUSEHOLD_KINDS[k][3][1] for k in kinds])[kind_of]
    head_age = rng.uniform(lo, hi)[np.cumsum(size)[hh] - size[hh]]  # head's draw, shared
    age[is_adult] = np.clip(head_age[is_adult] + rng.normal(0, 3, n)[is_adult], 18, 101)
    multi = np.array(kinds)[kind_of] == "multigenerational"
    elder = is_adult & multi & (pos == 0)
    age[elder] = np.clip(head_age[elder] + 25, 60, 101)
    share = np.array(kinds)[kind_of] == "house_share"
    age[share & is_adult] = rng.uniform(19, 45, (share & is_adult).sum())
    max_child = np.clip(head_age - 17, 0.1, 17.9)
    age[~is_adult] = rng.uniform(0, max_child[~is_adult])

    sex = np.where(rng.random(n) < 0.5, "F", "M")
    couple = is_adult & (adults[hh] == 2) & ~share
    sex[couple & (pos == 0)] = "M"
    sex[couple & (pos == 1)] = np.where(rng.random((couple & (pos == 1)).sum()) < 0.96, "F", "M")
    sex[(np.array(kinds)[kind_of] == "lone_parent") & is_adult] = np.where(
        rng.random(((np.array(kinds)[kind_of] == "lone_parent") & is_adult).sum()) < 0.88, "F", "M"
    )

    group = house_group[hh].copy()
    group[share] = _draw_group(rng, share.sum())
    naming = _mixed_to_parent_group(rng, group)
    last = family_name[hh].copy()
    own_name = (share & is_adult) | (couple & (pos == 1) & (rng.random(n) < 0.3))
    last[own_name] = _surnames_by(rng, vocab, naming[own_name])
    first = _names_by(rng, vocab, naming, sex)
    middle = _names_by(rng, vocab, naming, sex)
    middle[rng.random(n) >= cfg.population.middle_name] = None

    dob_days = (
        (cfg.first_night - _EPOCH).days - (age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    )
    # Twins: the second child of a family shares the first's birthday; a new first name.
    first_child = ~is_adult & (pos == adults[hh])
    twin = first_child & (children[hh] >= 2) & (rng.random(n) < cfg.population.twins)
    twin_idx = np.flatnonzero(twin)
    dob_days[twin_idx + 1] = dob_days[twin_idx]
    age[twin_idx + 1] = age[twin_idx]
    twin_of = np.full(n, -1, dtype=np.int64)
    twin_of[twin_idx + 1] = twin_idx
    twin_of[twin_idx] = twin_idx + 1
    same_name = first[twin_idx + 1] == first[twin_idx]
    while same_name.any():
        redraw = twin_idx[same_name] + 1
        first[redraw] = _names_by(rng, vocab, naming[redraw], sex[redraw])
        same_name = first[twin_idx + 1] == first[twin_idx]

    age_years = ((cfg.first_night - _EPOCH).days - dob_days) / 365.25
    ni = np.full(n, None, dtype=object)
    ni[age_years >= 16] = ni_numbers(rng, int((age_years >= 16).sum()))
    people = pl.DataFrame(
        {
            "person_id": np.arange(n, dtype=np.int64),
            "household_id": hh,
            "first_name": first.astype(str),
            "middle_name": pl.Series(middle.tolist(), dtype=pl.String),
            "last_name": last.astype(str),
            "birth_surname": last.astype(str),
            "sex": sex,
            "dob": pl.Series(dob_days).cast(pl.Date),
            "ethnicity": group,
            "role": np.where(is_adult, "adult", "child"),
            "twin_of": twin_of,
            "nhs_number": nhs_numbers(rng, n),
            "ni_number": pl.Series(ni.tolist(), dtype=pl.String),
        }
    ).with_columns(
        pl.when(pl.col("twin_of") >= 0).then(pl.col("twin_of")).otherwise(None).alias("twin_of"),
    )
    return Population(addresses=addresses, households=households, people=people)
