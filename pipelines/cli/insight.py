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
    """Reach by sex, ethnicity, age band and area; events by month with type, agency and
    area; referrals by source; alerts by team and closures by outcome (given a store).
    Every count through insight.yaml's disclosure rule (1 to 7 hidden, the rest rounded
    to 5)."""
    from alerts.store import open_store
    from common.config import ConfigError
    from insight.config import load_insight_config
    from insight.report import ReportError, build_report, write_report
    from pipelines.environment import data_dir, insight_file, store_url, store_variable

    warehouse = existing_warehouse("load and link some nights first")
    try:
        rule = load_insight_config(insight_file()).disclosure
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    # The alerts' tables come from the operational store, where there is one.
    url = store_url()
    store = open_store(url) if store_variable() or (data_dir() / "store.sqlite").is_file() else None
    try:
        found = build_report(warehouse, start, end, rule, store)
    except ReportError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        if store is not None:
            store.dispose()
    folder = out or data_dir() / "insight" / f"{start.isoformat()}_{end.isoformat()}"
    for written in write_report(found, folder):
        click.echo(f"wrote {written}")
    return 0
