"""`joinedup insight`: what the alerts and the services add up to, disclosure-controlled."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pipelines.cli.params import NIGHT, PATH, Group, UsageError, existing_warehouse


@click.group(cls=Group)
def insight() -> None:
    """Reports of whom the system reaches and the patterns over time."""


@insight.command()
@click.option("--from", "start", type=NIGHT, required=True, help="the first day of the period")
@click.option("--to", "end", type=NIGHT, required=True, help="the last day of the period")
@click.option("--out", type=PATH, help="folder for insight.json and insight.html")
def report(start: dt.date, end: dt.date, out: Path | None) -> int:
    """Reach by sex, ethnicity, age band and area, and events by month; every count
    through the disclosure rule (1 to 7 hidden, the rest rounded to 5)."""
    from insight.report import ReportError, build_report, write_report
    from pipelines.environment import data_dir

    warehouse = existing_warehouse("load and link some nights first")
    try:
        found = build_report(warehouse, start, end)
    except ReportError as exc:
        raise UsageError(str(exc)) from exc
    folder = out or data_dir() / "insight" / f"{start.isoformat()}_{end.isoformat()}"
    for written in write_report(found, folder):
        click.echo(f"wrote {written}")
    return 0
