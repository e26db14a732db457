"""Partner records of people: who each register knows, from which night, with which errors.

A register is one list of people inside one partner's system (the school roll, the
police nominal index, council-tax liable parties...). Everything about a record is
drawn when the world is made: the night it appears, the night it is deleted, the night
its errors are corrected, how long it lags behind a move or a new surname. `render`
then shows a register as the partner holds it on any night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from world.config import WorldConfig
from world.errors import (
    ALL_ERRORS,
    draw_errors,
    eligibility,
    plain,
    postcode_typo,
    surname_part,
    transpose,
    typo,
)
from world.life import Timeline
from world.population import Population
from world.vocab import Vocab


@dataclass(frozen=True)
class Register:
    """One partner's list of people and the conventions its records follow."""

    name: str
    partner: str
    id_prefix: str
    carries_dob: bool
    identifier: str | None  # the national identifier it records, if any
    # A register kept by property (council tax, benefits, tenancies) holds the address it
    # bills or lets: it is never stale, though its names may be.
    address_is_the_service: bool = False


REGISTERS: tuple[Register, ...] = (
    Register("csc_children", "childrens_social_care", "CS", True, "nhs_number"),
    Register("asc_clients", "adult_social_care", "AC", True, "nhs_number"),
    Register("housing_people", "housing", "HP", True, "ni_number", address_is_the_service=True),
    Register("police_nominals", "police", "NOM", True, None),
    Register("pupils", "education", "", True, "upn"),
    Register("patients", "health", "LP", True, "nhs_number"),
    Register("ctax_parties", "revenues_benefits", "CTP", False, None, True),
    Register("benefit_claimants", "revenues_benefits", "BC", True, "ni_number", True),
)


@dataclass(frozen=True)
class RecordBook:
    """Every partner record across all nights, with what is needed to render it."""

    records: pl.DataFrame  # truth: record_id, register, person_id, nights, lag, error flags
    states: pl.DataFrame  # person_id, night, household_id, address_id, last_name
    people: pl.DataFrame  # base attributes that do not change between nights


# Benefit claims (`_claim_days`): claims a year at latent risk 0, the log-rate per unit of
# risk, and how many years before the first night claims can have started.
CLAIM_PER_YEAR = 0.03
CLAIM_BETA = 1.0
CLAIM_YEARS = 5
# How long households have lived where they live on the first night: exponential, mean.
OCCUPANCY_MEAN_YEARS = 9.0
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal(): Polars dates count from 1970


def _night_of(days: np.ndarray, night_days: np.ndarray) -> np.ndarray:
    return np.searchsorted(night_days, days, side="left")


def _claim_days(
    rng: np.random.Generator, latent: pl.DataFrame, dob_days: np.ndarray, start: int, end: int
) -> np.ndarray:
    """The day each person first claims benefit (days since 1970; `end` if never by then).

    Claims start at rate CLAIM_PER_YEAR * exp(CLAIM_BETA * z) a year, z being the person's
    latent risk on the day (before or after their shift), from their 18th birthday or
    `start`, whichever is later: the first event of that process is the claim.
    """
    z0 = latent["z_start"].to_numpy()
    z1 = z0 + latent["risk_shift"].to_numpy()
    change = latent["shift_date"].cast(pl.Int64).fill_null(end).to_numpy()
    s = np.maximum(start, dob_days + int(18 * 365.25))
    c = np.clip(change, s, end)
    r0 = CLAIM_PER_YEAR * np.exp(CLAIM_BETA * z0) / 365.25
    r1 = CLAIM_PER_YEAR * np.exp(CLAIM_BETA * z1) / 365.25
    need = rng.exponential(1.0, len(z0))
    before = s + need / r0
    after = c + (need - r0 * np.maximum(c - s, 0)) / r1
    day = np.where(before < c, before, after)
    return np.where((s < end) & (day < end), np.floor(day), end).astype(np.int64)


def memberships(
    cfg: WorldConfig,
    timeline: Timeline,
    events: pl.DataFrame,
    latent: pl.DataFrame,
    states: pl.DataFrame,
) -> dict[str, pl.DataFrame]:
    """For each register: person_id, first night, end night (exclusive, K if never), and
    `since`, the date the partner's record of the person starts (docs/world.md)."""
    k = cfg.nights
    night_days = np.array([d.toordinal() for d in cfg.night_dates()])
    # Draws made here come from their own stream, so that adding them left every other
    # draw of a seed where it was.
    extra = np.random.default_rng([cfg.seed, 18])
    rec = events.filter(pl.col("recorded"))

    def by_events(*sources: str, kinds: tuple[str, ...] = ()) -> pl.DataFrame:
        sel = rec.filter(pl.col("source").is_in(sources))
        if kinds:
            sel = sel.filter(pl.col("kind").is_in(kinds))
        first = sel.group_by("person_id").agg(pl.col("date").min())
        night = _night_of(
            np.array([d.toordinal() for d in first["date"].to_list()], dtype=np.int64), night_days
        )
        return first.select(
            "person_id",
            pl.Series("first_night", night, dtype=pl.Int64),
            pl.lit(k, pl.Int64).alias("end_night"),
            pl.col("date").alias("since"),
        )

    night_day = pl.col("night").replace_strict(
        list(range(k)), [int(d) for d in night_days], return_dtype=pl.Int64
    )
    ages = (
        states.join(timeline.people.select("person_id", "dob", "died_night"), on="person_id")
        .with_columns(
            ((night_day - pl.col("dob").cast(pl.Int64) - _EPOCH_ORDINAL) / 365.25).alias("age"),
            (night_day - _EPOCH_ORDINAL).alias("night_day"),
            (pl.col("died_night").is_null() | (pl.col("died_night") > pl.col("night"))).alias(
                "alive"
            ),
        )
        .with_columns(
            pl.when(pl.col("age") >= 18)
            .then(
                pl.col("person_id")
                .rank("ordinal")
                .over("night", "household_id", pl.col("age") >= 18)
            )
            .alias("adult_rank")
        )
    )
    # When each household came to live where it lives on the first night: the start of a
    # council-tax liability or a tenancy held from before the first night.
    n_households = int(states["household_id"].to_numpy().max()) + 1
    first_day = night_days[0] - _EPOCH_ORDINAL
    occupied = first_day - np.floor(
        extra.exponential(OCCUPANCY_MEAN_YEARS * 365.25, n_households)
    ).astype(np.int64)

    def on_roll(mask: pl.Expr, leaves: bool, since: pl.Expr) -> pl.DataFrame:
        # Nights on which the mask holds; a person who drops off a roll leaves for good.
        # `since` is read on the first night on the roll; from a later night, the record
        # starts no earlier than the night before it first appears.
        on = (
            ages.filter(mask)
            .group_by("person_id")
            .agg(
                pl.col("night").min().alias("first_night"),
                pl.col("night").max().alias("last"),
                since.sort_by("night").first().alias("since_day"),
                pl.col("night_day").sort_by("night").first().alias("first_day"),
            )
        )
        end = pl.col("last") + 1 if leaves else pl.lit(k, pl.Int64)
        prior = pl.col("first_day") - (night_days[1] - night_days[0] if k > 1 else 1)
        start = (
            pl.when(pl.col("first_night") == 0)
            .then(pl.col("since_day"))
            .otherwise(pl.max_horizontal("since_day", prior))
        )
        return on.select(
            "person_id",
            "first_night",
            end.alias("end_night"),
            pl.min_horizontal(start, pl.col("first_day"))
            .cast(pl.Int32)
            .cast(pl.Date)
            .alias("since"),
        )

    dob_day = pl.col("dob").cast(pl.Int64)
    housed = pl.col("occupied")
    first_hh = states.filter(pl.col("night") == 0).select("person_id", "household_id")
    tenant_hh = first_hh.join(latent.filter(pl.col("social_tenant")), on="person_id")[
        "household_id"
    ]
    # Benefits: the first adult of a household, from the day they first claim; claims come
    # faster the higher the claimant's latent risk on the day (`_claim_days`).
    people = timeline.people.select("person_id", "dob").join(latent, on="person_id", how="left")
    claim = _claim_days(
        extra,
        people.select("z_start", "risk_shift", "shift_date").with_columns(
            pl.col("z_start").fill_null(0.0), pl.col("risk_shift").fill_null(0.0)
        ),
        people["dob"].cast(pl.Int64).to_numpy(),
        first_day - int(CLAIM_YEARS * 365.25),
        int(night_days[-1] - _EPOCH_ORDINAL) + 1,
    )
    claims = people.select("person_id", pl.Series("claim_day", claim))
    ages = ages.join(claims, on="person_id", how="left").join(
        pl.DataFrame({"household_id": np.arange(n_households), "occupied": occupied}).with_columns(
            pl.col("household_id").cast(states["household_id"].dtype)
        ),
        on="household_id",
        how="left",
    )
    births = timeline.people.filter(pl.col("born_night").is_not_null()).select(
        "person_id",
        pl.col("born_night").alias("first_night"),
        pl.lit(k, pl.Int64).alias("end_night"),
        pl.col("dob").alias("since"),
    )

    def union(*parts: pl.DataFrame) -> pl.DataFrame:
        return (
            pl.concat(parts)
            .group_by("person_id")
            .agg(pl.col("first_night").min(), pl.col("end_night").max(), pl.col("since").min())
        )

    out = {
        "csc_children": by_events("childrens_social_care"),
        "asc_clients": by_events("adult_social_care"),
        "housing_people": union(
            on_roll(
                pl.col("household_id").is_in(tenant_hh.implode()),
                leaves=False,
                since=pl.max_horizontal(dob_day, housed),
            ),
            by_events("housing", kinds=("homelessness_application",)),
        ),
        "police_nominals": by_events("police"),
        "pupils": on_roll(
            (pl.col("age") >= 4) & (pl.col("age") < 16) & pl.col("alive"),
            leaves=True,
            since=dob_day + int(4 * 365.25),
        ),
        "patients": union(by_events("health"), births),
        "ctax_parties": on_roll(
            pl.col("adult_rank") <= 2,
            leaves=False,
            since=pl.max_horizontal(dob_day + int(18 * 365.25), housed),
        ),
        "benefit_claimants": on_roll(
            (pl.col("adult_rank") == 1) & (pl.col("claim_day") <= pl.col("night_day")),
            leaves=False,
            since=pl.col("claim_day"),
        ),
    }
    return {name: m.sort("person_id") for name, m in out.items()}


def _geometric_after(rng: np.random.Generator, start: np.ndarray, p: float, k: int) -> np.ndarray:
    """The night after start when something of nightly probability p first happens (k: never)."""
    if p <= 0:
        return np.full(len(start), k, dtype=np.int64)
    return np.minimum(start + rng.geometric(p, len(start)), k).astype(np.int64)


def build_records(
    cfg: WorldConfig,
    rng: np.random.Generator,
    vocab: Vocab,
    pop: Population,
    timeline: Timeline,
    events: pl.DataFrame,
    latent: pl.DataFrame,
) -> RecordBook:
    """Draw every record of every register with its nights and its errors."""
    k = cfg.nights
    states = pl.concat([timeline.where_on(n) for n in range(k)]).sort("night", "person_id")
    members = memberships(cfg, timeline, events, latent, states)
    people = timeline.people.drop("last_name", "household_id")
    prev_addr = (
        states.filter(pl.col("night") == 0)
        .join(pop.households.select("household_id", "previous_address_id"), on="household_id")
        .select("person_id", "previous_address_id")
    )
    people = people.join(prev_addr, on="person_id", how="left")
    rates = cfg.errors
    nightly = cfg.nightly
    frames = []
    for reg in REGISTERS:
        m = members[reg.name]
        dup = rng.random(m.height) < rates.duplicate
        base = pl.concat(
            [
                m.with_columns(pl.lit(0, pl.Int64).alias("copy")),
                m.filter(pl.Series(dup)).with_columns(pl.lit(1, pl.Int64).alias("copy")),
            ]
        )
        n = base.height
        order = np.lexsort((rng.random(n), base["first_night"].to_numpy()))
        number = np.empty(n, dtype=np.int64)
        number[order] = np.arange(n)
        first = base["first_night"].to_numpy()
        u_lag = rng.random(n)
        lag = np.where(
            reg.address_is_the_service,
            0,
            np.where(
                u_lag < nightly.update_same_night,
                0,
                np.where(
                    u_lag < nightly.update_same_night + nightly.update_never,
                    -1,
                    rng.geometric(0.5, n),
                ),
            ),
        )
        deleted = _geometric_after(rng, first, nightly.deletion, k)
        corrected = _geometric_after(rng, first, nightly.correction, k)
        base = base.with_columns(
            pl.lit(reg.name).alias("register"),
            pl.lit(reg.partner).alias("partner"),
            pl.Series("number", number),
            pl.Series("lag", lag, dtype=pl.Int64),
            pl.min_horizontal(pl.col("end_night"), pl.Series(deleted)).alias("end_night"),
            pl.Series(
                "deleted_night",
                [
                    int(d) if d < e else None
                    for d, e in zip(deleted, base["end_night"].to_numpy(), strict=True)
                ],
                dtype=pl.Int64,
            ),
            pl.Series("corrected_night", corrected, dtype=pl.Int64),
        )
        truth_then = base.join(
            states.select("person_id", "night", "last_name"),
            left_on=["person_id", "first_night"],
            right_on=["person_id", "night"],
            how="left",
        ).join(
            people.select("person_id", "first_name", "dob", "nhs_number", "ni_number", "upn"),
            on="person_id",
            how="left",
        )
        elig = eligibility(truth_then, vocab, reg.carries_dob, reg.identifier)
        if reg.address_is_the_service:
            elig = elig.with_columns(pl.lit(False).alias("e_stale_address"))
        u = draw_errors(rng, n, rates)
        flags = {
            name: (elig[f"e_{name}"] & (u[f"u_{name}"] < getattr(rates, name))).alias(name)
            for name in ALL_ERRORS
        }
        flag_frame = pl.DataFrame([flags[e] for e in ALL_ERRORS])
        elig_frame = elig.rename({f"e_{e}": f"eligible_{e}" for e in ALL_ERRORS})
        base = pl.concat(
            [base, flag_frame, elig_frame, u.select("param_a", "param_b")], how="horizontal"
        )
        any_error = pl.any_horizontal([pl.col(e) for e in ALL_ERRORS])
        base = base.with_columns(
            pl.when(any_error)
            .then(pl.col("corrected_night"))
            .otherwise(None)
            .alias("corrected_night")
        )
        frames.append(base)
    records = pl.concat(frames, how="vertical_relaxed")
    records = records.with_columns(
        pl.concat_str(
            [
                pl.col("register").replace_strict({r.name: r.id_prefix for r in REGISTERS}),
                (pl.col("number") + 100_001).cast(pl.String).str.zfill(7),
            ]
        ).alias("source_record_id")
    ).drop("number")
    return RecordBook(records=records, states=states, people=people)


def render(
    book: RecordBook, register: str, night: int, addresses: pl.DataFrame, vocab: Vocab
) -> pl.DataFrame:
    """The register as the partner holds it on a night, errors and stale details included."""
    reg = next(r for r in REGISTERS if r.name == register)
    recs = book.records.filter(
        (pl.col("register") == register)
        & (pl.col("first_night") <= night)
        & (pl.col("end_night") > night)
    )
    known = (
        pl.when(pl.col("lag") == 0)
        .then(pl.lit(night))
        .when(pl.col("lag") < 0)
        .then(pl.col("first_night"))
        .otherwise(pl.max_horizontal(pl.col("first_night"), pl.lit(night) - pl.col("lag")))
    )
    live = pl.col("corrected_night").is_null() | (pl.col("corrected_night") > night)
    recs = recs.with_columns(known.alias("known_night"), live.alias("live"))
    for e in ALL_ERRORS:
        recs = recs.with_columns((pl.col(e) & pl.col("live")).alias(e))
    recs = recs.join(
        book.states.select("person_id", "night", "address_id", "household_id", "last_name"),
        left_on=["person_id", "known_night"],
        right_on=["person_id", "night"],
        how="left",
    ).join(book.people, on="person_id", how="left")
    recs = recs.with_columns(
        pl.when(pl.col("stale_address") & pl.col("previous_address_id").is_not_null())
        .then(pl.col("previous_address_id"))
        .otherwise(pl.col("address_id"))
        .alias("address_id")
    ).join(addresses, on="address_id", how="left")
    if reg.identifier:
        recs = recs.with_columns(
            pl.when(pl.col("blank_identifier"))
            .then(None)
            .otherwise(pl.col(reg.identifier))
            .alias("identifier")
        )
    else:
        recs = recs.with_columns(pl.lit(None, pl.String).alias("identifier"))
    return _apply_name_and_dob_errors(recs, reg, vocab)


def _apply_name_and_dob_errors(recs: pl.DataFrame, reg: Register, vocab: Vocab) -> pl.DataFrame:
    first = recs["first_name"].to_list()
    last = recs["last_name"].to_list()
    postcode = recs["postcode"].to_list()
    a = recs["param_a"].to_list()
    b = recs["param_b"].to_list()
    flags = {e: np.flatnonzero(recs[e].to_numpy()) for e in ALL_ERRORS}
    for i in flags["nickname"]:
        options = vocab.nicknames.get(first[i], [])
        if options:
            first[i] = options[int(a[i] * len(options)) % len(options)]
    for i in flags["spelling_variant"]:
        if first[i] in vocab.variants and (b[i] < 0.5 or last[i] not in vocab.variants):
            opts = vocab.variants[first[i]]
            first[i] = opts[int(a[i] * len(opts)) % len(opts)]
        elif last[i] in vocab.variants:
            opts = vocab.variants[last[i]]
            last[i] = opts[int(a[i] * len(opts)) % len(opts)]
    for i in flags["surname_part"]:
        if "-" in last[i] or " " in last[i]:
            last[i] = surname_part(last[i], a[i])
    for i in flags["accent_dropped"]:
        first[i], last[i] = plain(first[i]), plain(last[i])
    for i in flags["typo"]:
        if b[i] < 0.5:
            last[i] = typo(last[i], a[i], b[i] * 2)
        else:
            first[i] = typo(first[i], a[i], b[i] * 2 - 1)
    for i in flags["transposition"]:
        if a[i] < 0.5:
            last[i] = transpose(last[i], b[i])
        else:
            first[i] = transpose(first[i], b[i])
    for i in flags["name_swap"]:
        first[i], last[i] = last[i], first[i]
    for i in flags["postcode_typo"]:
        if postcode[i]:
            postcode[i] = postcode_typo(postcode[i], a[i], b[i])

    frame = recs.with_columns(
        pl.Series("first_name", first, dtype=pl.String),
        pl.Series("last_name", last, dtype=pl.String),
        pl.Series("postcode", postcode, dtype=pl.String),
    )
    d = pl.col("dob")
    typo_dob = (
        pl.when(pl.col("param_a") < 0.5)
        .then(
            d.dt.offset_by(
                pl.when(pl.col("param_b") < 0.5).then(pl.lit("-1y")).otherwise(pl.lit("1y"))
            )
        )
        .otherwise(
            d.dt.offset_by(
                pl.when(pl.col("param_b") < 0.5).then(pl.lit("-1d")).otherwise(pl.lit("1d"))
            )
        )
    )
    recorded = (
        pl.when(pl.col("dob_missing") | pl.lit(not reg.carries_dob))
        .then(None)
        .when(pl.col("dob_partial"))
        .then(pl.date(d.dt.year(), 1, 1))
        .when(pl.col("dob_day_month_swap"))
        .then(pl.date(d.dt.year(), d.dt.day(), d.dt.month()))
        .when(pl.col("dob_typo"))
        .then(typo_dob)
        .otherwise(d)
    )
    return frame.with_columns(recorded.alias("recorded_dob"))
