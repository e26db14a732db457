"""Settings of a synthetic world: its size, its seed, and the rates of its errors and changes.

Every rate is a probability in 0..1; pydantic refuses anything else with a message that
names the option, so an impossible world is stopped before a byte is written.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from world.vocab import ETHNIC_GROUPS

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorRates(_Strict):
    """How often a partner's record of a person departs from the truth.

    Each rate is the share of *eligible* records that carry the error: a nickname needs a
    first name that has one, a day/month swap needs a day of 12 or less that differs
    from the month, a dropped accent needs a name with an accent or apostrophe.
    """

    typo: Rate = 0.03
    transposition: Rate = 0.01
    nickname: Rate = 0.08
    spelling_variant: Rate = 0.05
    name_swap: Rate = 0.01
    dob_missing: Rate = 0.02
    dob_partial: Rate = 0.01
    dob_day_month_swap: Rate = 0.02
    dob_typo: Rate = 0.01
    stale_address: Rate = 0.05
    postcode_typo: Rate = 0.02
    duplicate: Rate = 0.02
    blank_identifier: Rate = 0.05
    surname_part: Rate = 0.3
    accent_dropped: Rate = 0.3


class PopulationRates(_Strict):
    """Shape of the population beyond its size."""

    twins: Rate = Field(
        0.03, description="share of families of two or more children whose eldest two are twins"
    )
    double_barrelled: Rate = Field(0.03, description="share of families with a two-part surname")
    middle_name: Rate = Field(0.45, description="share of people with a middle name")
    vacant_addresses: Rate = Field(0.08, description="share of addresses empty at the start")
    name_tails: bool = Field(
        True,
        description="names reach past the shipped lists into a long tail of rarer names, as in "
        "life (docs/world.md); false: the shipped lists only, as worlds were made before",
    )


class NightlyRates(_Strict):
    """What changes from one night to the next, per night.

    Life events are per person (births per woman aged 18 to 44); record changes are per
    live partner record. Nights are a day apart, so the defaults are a busy day's rates.
    """

    move: Rate = Field(0.002, description="households that move to another address")
    birth: Rate = Field(0.0004, description="women aged 18-44 who give birth")
    death: Rate = Field(0.0001, description="baseline daily death rate, rising with age")
    marriage: Rate = Field(0.0004, description="single adults who marry and take a surname")
    correction: Rate = Field(0.01, description="records with an error that the partner corrects")
    deletion: Rate = Field(0.002, description="records a partner deletes")
    event_correction: Rate = Field(0.005, description="event rows whose details are amended")
    event_deletion: Rate = Field(0.001, description="event rows a partner deletes")
    update_same_night: Rate = Field(
        0.4, description="records that learn of a move or new surname the night it happens"
    )
    update_never: Rate = Field(0.3, description="records that never learn of it: stale")


class FollowUp(_Strict):
    """What following up an alert does in the world: the planted effect (docs/insight.md).

    The product's alerts happen after the world is made, so the world answers them
    afterwards (`world.followup`): a person alerted on a night is followed up
    `lag_days` later, and from then on to the end of the outcome window their hazard of
    a serious event is multiplied by `hazard_ratio`. 1 plants no effect; below 1 a
    protective one; above 1 a harmful one.
    """

    hazard_ratio: float = Field(
        0.6, gt=0.0, le=10.0, description="serious-event hazard once followed up, as a ratio"
    )
    lag_days: int = Field(7, ge=0, le=90, description="days from the alert to the follow-up")


class UnderReach(_Strict):
    """A seldom-heard group: partners record fewer of its events, whatever its need."""

    ethnicity: str | None = Field(
        None, description="the group's ethnicity (world/vocab); none plants no under-reach"
    )
    recorded_share: Rate = Field(
        0.5, description="share of the group's events a partner records (others: 0.92)"
    )

    @field_validator("ethnicity")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in ETHNIC_GROUPS:
            raise ValueError(f"{v!r} is not a group of the world; one of {sorted(ETHNIC_GROUPS)}")
        return v


class WorldConfig(_Strict):
    """Everything that decides a world: the same config gives byte-identical extracts."""

    people: int = Field(20_000, ge=100, le=5_000_000)
    seed: int = Field(7, ge=0, le=2**32 - 1)
    nights: int = Field(3, ge=1, le=60)
    first_night: dt.date = dt.date(2026, 11, 1)
    history_days: int = Field(730, ge=90, le=3650, description="days of events before night 1")
    outcome_days: int = Field(182, ge=30, le=730, description="the truth's outcome window")
    errors: ErrorRates = ErrorRates()
    population: PopulationRates = PopulationRates()
    nightly: NightlyRates = NightlyRates()
    followup: FollowUp = FollowUp()
    under_reach: UnderReach = UnderReach()

    def night_dates(self) -> list[dt.date]:
        """The date of each night's extract, oldest first."""
        return [self.first_night + dt.timedelta(days=i) for i in range(self.nights)]
