"""Partners' writers: each turns a night of the world into its own native extract."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from world.extracts import Night, Written
from world.partners import (
    adult_social_care,
    childrens_social_care,
    education,
    health,
    housing,
    police,
    revenues_benefits,
)

WRITERS: dict[str, Callable[[Night, Path], Written]] = {
    childrens_social_care.PARTNER: childrens_social_care.write,
    adult_social_care.PARTNER: adult_social_care.write,
    housing.PARTNER: housing.write,
    police.PARTNER: police.write,
    education.PARTNER: education.write,
    health.PARTNER: health.write,
    revenues_benefits.PARTNER: revenues_benefits.write,
}
