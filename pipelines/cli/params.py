"""What the commands share: the usage error, typed options, the choice of nights.

Only click and the standard library are imported here, so that `joinedup --help` stays
quick; each command imports the stages it runs when it runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class UsageError(click.UsageError):
    """Bad options or input a person can fix: one line on stderr, exit status 2, nothing
    written. The command it was raised in is named before the message."""


class Group(click.Group):
    """A group of commands, listed in the order they were added (the order they are used
    in), that, called without one, says which it has in one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands' names in the order they were added."""
        return list(self.commands)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse a bare group with the names of its commands, before click's parsing."""
        if not args and not ctx.resilient_parsing:
            names = ", ".join(self.list_commands(ctx))
            raise UsageError(f"name a command: {names} (see {ctx.command_path} --help)", ctx)
        return super().parse_args(ctx, args)


class Night(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5 on only
    """A night, or any date, written YYYY-MM-DD: a `datetime.date`."""

    name = "night"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """How the help shows the value."""
        return "YYYY-MM-DD"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date:
        """The date, or click's error naming the option, what was given and the form."""
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        text = str(value).strip()
        if not ISO_DATE.fullmatch(text):
            self.fail(f"{value!r} is not a date: expected YYYY-MM-DD, e.g. 2026-11-01", param, ctx)
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            self.fail(f"{value!r} is not a date ({exc}): expected YYYY-MM-DD", param, ctx)


class Probability(click.ParamType):  # type: ignore[type-arg]
    """A probability strictly between 0 and 1, such as a threshold: a `float`."""

    name = "probability"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """How the help shows the value."""
        return "P"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """The number, or click's error naming the option and the range expected."""
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number: expected a probability, e.g. 0.9", param, ctx)
        if not 0.0 < number < 1.0:
            self.fail(f"must be a probability above 0 and below 1, got {value}", param, ctx)
        return number


NIGHT = Night()
PROBABILITY = Probability()
# A path given on the command line, as a `pathlib.Path` (its checks are the command's).
PATH = click.Path(path_type=Path)


@dataclass(frozen=True)
class Nights:
    """The nights a command was asked for: those named with --night, or every one (--all)."""

    named: tuple[dt.date, ...]
    every: bool

    def resolve(self, every_night: Callable[[], list[dt.date]]) -> list[dt.date]:
        """The nights named, in the order given, or `every_night()` for --all."""
        return every_night() if self.every else list(self.named)


def choose_nights(named: tuple[dt.date, ...], every: bool) -> Nights:
    """--night (repeatable) or --all: exactly one of the two, or a UsageError."""
    if named and every:
        raise UsageError("--night and --all: give one or the other, not both")
    if not named and not every:
        raise UsageError("name a night with --night YYYY-MM-DD, or --all")
    return Nights(named, every)


def night_or_all(
    night_help: str, all_help: str
) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Options --night (repeatable) and --all, checked by `choose_nights`: the command is
    called with `nights`, a `Nights`, in their place."""

    def decorate(command: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(command)
        def chosen(*args: Any, night: tuple[dt.date, ...], every: bool, **kwargs: Any) -> int:
            return command(*args, nights=choose_nights(night, every), **kwargs)

        with_all = click.option("--all", "every", is_flag=True, help=all_help)(chosen)
        return click.option("--night", "night", type=NIGHT, multiple=True, help=night_help)(
            with_all
        )

    return decorate


def extract_nights() -> list[dt.date]:
    """Every night the world's extracts folder holds, oldest first (none: an empty list)."""
    from pipelines.environment import world_dir

    root = world_dir() / "extracts"
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [dt.date.fromisoformat(n) for n in found if ISO_DATE.fullmatch(n)]


def world_nights() -> list[dt.date]:
    """Every night the world's extracts folder holds, oldest first (for --all)."""
    from pipelines.environment import world_dir

    nights = extract_nights()
    if not nights:
        raise UsageError(f"--all: no nights found in {world_dir() / 'extracts'}")
    return nights


def existing_warehouse(otherwise: str) -> Path:
    """The warehouse's path; if there is none, a UsageError ending with `otherwise`."""
    from pipelines.environment import warehouse_path

    warehouse = warehouse_path()
    if not warehouse.is_file():
        raise UsageError(f"no warehouse at {warehouse}: {otherwise}")
    return warehouse
