"""Make a world: the population, its nights, every partner's extracts, and the truth apart.

Layout of a world folder::

    world.json                      what was made, from which settings, with counts
    extracts/<date>/<partner>/...   each partner's native files for that night
    directory/                      teams, professionals (work emails) and schools
    truth/                          who is really behind each record; never read by the pipeline
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from world.agencies import LA_CODE, build_directory
from world.config import WorldConfig
from world.extracts import Night, build_event_book, night_events
from world.identifiers import upns
from world.life import Timeline, simulate_nights
from world.partners import WRITERS
from world.population import Population, build_population
from world.records import REGISTERS, RecordBook, build_records, render
from world.risk import RiskWorld, simulate_risk
from world.vocab import load_vocab

MANIFEST = "world.json"
FORMAT_VERSION = 2  # raise when the files a world holds change shape


class WorldError(ValueError):
    """A world cannot be made as asked; the message says why and what to do."""


@dataclass
class Report:
    """What was made, for the command line to print."""

    out: Path
    people: int
    records: int
    rows_per_night: dict[str, int]
    oracle_auc: float
    outcome_rate: float
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What a world run made, stage by stage, for the console."""
        return [
            f"world: {self.people:,} people, {self.records:,} partner records, "
            f"written to {self.out} in {self.seconds:.1f} s",
            *(f"  {stage:<14} {secs:6.2f} s" for stage, secs in self.stages.items()),
            *(
                f"  night {date}: {rows:,} source rows across partners"
                for date, rows in self.rows_per_night.items()
            ),
            f"  serious-event rate in the outcome window {self.outcome_rate:.3f}; "
            f"oracle AUC {self.oracle_auc:.3f} (the ceiling for any risk model)",
        ]


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that holds anything but an earlier world."""
    if out.exists() and not out.is_dir():
        raise WorldError(f"{out} is a file, not a folder: choose a folder for the world")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise WorldError(
            f"{out} already holds files that are not a joinedup world (no {MANIFEST}); "
            "choose an empty or new folder, so nothing of yours is overwritten"
        )


def _with_upns(
    people: pl.DataFrame, schools: pl.DataFrame, first_night: dt.date, rng: np.random.Generator
) -> pl.DataFrame:
    age = (first_night - dt.date(1970, 1, 1)).days - people["dob"].cast(pl.Int64).to_numpy()
    child = (age / 365.25 >= 3) & (age / 365.25 < 19)
    idx = np.flatnonzero(child)
    estab = rng.choice(schools.filter(pl.col("phase") == "primary")["estab"].to_numpy(), len(idx))
    years = people["dob"].dt.year().to_numpy()[idx] + 4
    values = np.full(people.height, None, dtype=object)
    values[idx] = upns(rng, LA_CODE, estab, years)
    return people.with_columns(pl.Series("upn", values.tolist(), dtype=pl.String))


def generate(cfg: WorldConfig, out: Path, on_stage: Callable[[str], None] | None = None) -> Report:
    """Make the world cfg describes in out, replacing an earlier world there.

    Args:
        cfg: the world's settings.
        out: the folder to write (new, empty, or an earlier world).
        on_stage: called with each stage's name as it starts, for progress.
    """
    check_out_dir(out)
    started = time.perf_counter()
    stages: dict[str, float] = {}
    say = on_stage or (lambda stage: None)

    def lap(name: str, t0: float) -> float:
        now = time.perf_counter()
        stages[name] = round(now - t0, 2)
        return now

    t = started
    say("population")
    rng = np.random.default_rng(cfg.seed)
    vocab = load_vocab(cfg.population.name_tails)
    directory = build_directory(rng, vocab, cfg.people)
    pop = build_population(cfg, rng, vocab)
    pop = type(pop)(
        pop.addresses,
        pop.households,
        _with_upns(pop.people, directory.schools, cfg.first_night, rng),
    )
    t = lap("population", t)
    say("life and risk")
    timeline = simulate_nights(cfg, rng, vocab, pop)
    risk = simulate_risk(cfg, rng, pop)
    t = lap("life and risk", t)
    say("records")
    book = build_records(cfg, rng, vocab, pop, timeline, risk.events, risk.latent)
    events = build_event_book(cfg, rng, risk.events, book)
    t = lap("records", t)

    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tenant_hh = (
        pop.people.join(risk.latent.select("person_id", "social_tenant"), on="person_id")
        .filter(pl.col("social_tenant"))["household_id"]
        .unique()
        .implode()
    )
    rows: dict[str, int] = {}
    nights_meta = []
    involvements: list[pl.DataFrame] = []
    for n, date in enumerate(cfg.night_dates()):
        say(f"extracts for {date.isoformat()}")
        regs = {r.name: render(book, r.name, n, pop.addresses, vocab) for r in REGISTERS}
        regs["housing_people"] = regs["housing_people"].with_columns(
            pl.col("household_id").is_in(tenant_hh).alias("tenant"),
            pl.col("household_id").alias("tenancy_key"),
        )
        night = Night(n, date, regs, night_events(events, n, regs), directory, risk.latent)
        files: dict[str, list[str]] = {}
        for partner, write in WRITERS.items():
            folder = tmp / "extracts" / date.isoformat() / partner
            folder.mkdir(parents=True)
            written = write(night, folder)
            files[partner] = [str(p.relative_to(tmp)) for p in written.paths]
            involvements.append(
                written.involvements.with_columns(pl.lit(n, pl.Int64).alias("night"))
            )
        night_rows = sum(r.height for r in regs.values()) + night.events.height
        rows[date.isoformat()] = night_rows
        nights_meta.append(
            {
                "night": n,
                "date": date.isoformat(),
                "files": files,
                "person_records": {k: v.height for k, v in regs.items()},
                "events": night.events.height,
            }
        )
    t = lap("extracts", t)
    say("truth")
    _write_truth(tmp, pop, timeline, risk, book, events)
    pl.concat(involvements).write_parquet(tmp / "truth" / "involvements.parquet")
    (tmp / "directory").mkdir()
    directory.teams.write_csv(tmp / "directory" / "teams.csv")
    directory.professionals.drop("slot").write_csv(tmp / "directory" / "professionals.csv")
    directory.schools.write_csv(tmp / "directory" / "schools.csv")
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": json.loads(cfg.model_dump_json()),
        "people_first_night": pop.people.height,
        "people_ever": timeline.people.height,
        "records": book.records.height,
        "oracle_auc": round(risk.oracle_auc, 4),
        "outcome_rate": round(risk.outcome_rate, 4),
        "nights": nights_meta,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    t = lap("truth", t)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return Report(
        out=out,
        people=pop.people.height,
        records=book.records.height,
        rows_per_night=rows,
        oracle_auc=risk.oracle_auc,
        outcome_rate=risk.outcome_rate,
        seconds=round(time.perf_counter() - started, 2),
        stages=stages,
    )


def _write_truth(
    tmp: Path,
    pop: Population,
    timeline: Timeline,
    risk: RiskWorld,
    book: RecordBook,
    events: pl.DataFrame,
) -> None:
    truth = tmp / "truth"
    truth.mkdir()
    timeline.people.join(risk.latent, on="person_id", how="left").write_parquet(
        truth / "persons.parquet"
    )
    pop.households.write_parquet(truth / "households.parquet")
    pop.addresses.write_parquet(truth / "addresses.parquet")
    timeline.residence.write_parquet(truth / "residence.parquet")
    timeline.surnames.write_parquet(truth / "surnames.parquet")
    timeline.events.write_parquet(truth / "life_events.parquet")
    book.records.drop("param_a", "param_b").write_parquet(truth / "records.parquet")
    risk.events.write_parquet(truth / "events.parquet")
    events.select(
        "event_id", "register", "source_record_id", "seen_night", "amended_night", "deleted_night"
    ).write_parquet(truth / "event_records.parquet")
    risk.serious.write_parquet(truth / "serious_events.parquet")
    (truth / "oracle.json").write_text(
        json.dumps(
            {
                "oracle_auc": risk.oracle_auc,
                "outcome_rate": risk.outcome_rate,
                "outcome": "a serious safeguarding event within outcome_days after the last night",
            },
            indent=2,
        )
        + "\n"
    )


def load_config(out: Path) -> WorldConfig | None:
    """The settings an existing world was made with; None if it was made by an older format."""
    manifest = json.loads((out / MANIFEST).read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        return None
    return WorldConfig.model_validate(manifest["config"])
