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


@insight.command()
@click.option("--night", type=NIGHT, required=True, help="the night whose alerts are studied")
@click.option("--days", type=click.IntRange(1, 1095), help="the window (risk.yaml's horizon)")
@click.option(
    "--world",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="a synthetic world: its answer to the alerts is the outcome, its planted effect the "
    "truth beside each estimate",
)
@click.option(
    "--hazard-ratio",
    type=click.FloatRange(0, 10, min_open=True),
    help="with --world: answer with this planted effect rather than the world's own",
)
@click.option("--out", type=PATH, help="folder for impact.json and impact.html")
def impact(
    night: dt.date,
    days: int | None,
    world: Path | None,
    hazard_ratio: float | None,
    out: Path | None,
) -> int:
    """Did the people alerted on a night do better than comparable people? Discontinuity
    at the alerting threshold, difference-in-differences on matched people, with placebo
    and regression-to-the-mean checks."""
    from alerts.config import Selection
    from common.config import ConfigError, read_yaml, validate
    from insight.impact import ImpactError, alerting_threshold, study, write_impact
    from pipelines.environment import alerts_file, data_dir, store_url
    from risk_models import risk_settings

    if hazard_ratio is not None and world is None:
        raise UsageError("--hazard-ratio answers for a synthetic world: give --world too")
    warehouse = existing_warehouse("load, link and score some nights first")
    bands = risk_settings().bands
    try:
        file = read_yaml(alerts_file())  # only the selection: no secrets needed
        selection = validate(
            Selection, (file.data or {}).get("selection"), origin=file, at=("selection",)
        )
        cutoff = alerting_threshold(
            list(selection.bands),
            {"medium": bands.medium, "high": bands.high, "very_high": bands.very_high},
        )
        found = study(
            warehouse, store_url(), night, cutoff, days, world=world, hazard_ratio=hazard_ratio
        )
    except (ImpactError, ConfigError) as exc:
        raise UsageError(str(exc)) from exc
    folder = out or data_dir() / "insight" / f"impact_{night.isoformat()}"
    for note in found.notes:
        click.echo(note)
    for written in write_impact(found, folder):
        click.echo(f"wrote {written}")
    return 0
