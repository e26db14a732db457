"""`joinedup run`, `load release` and `sources check`: the nightly job in this process, a
held load accepted, partners' config tried on their extracts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from pipelines.cli.params import (
    NIGHT,
    PATH,
    Group,
    Nights,
    UsageError,
    existing_warehouse,
    extract_nights,
    night_or_all,
    world_nights,
)


def _warehouse_free() -> None:
    """Stop with one sentence if another process holds the warehouse past the wait."""
    from connectors.warehouse import Warehouse, WarehouseBusy
    from pipelines.environment import warehouse_path, warehouse_wait

    try:
        Warehouse(warehouse_path(), warehouse_wait()).close()
    except WarehouseBusy as exc:
        raise UsageError(str(exc)) from exc


@click.command()
@night_or_all(
    night_help="night to load (repeatable)", all_help="every night in the world, oldest first"
)
@click.option("--source", "sources", multiple=True, help="only these sources (repeatable)")
def run(nights: Nights, sources: tuple[str, ...]) -> int:
    """Run the nightly job in this process (no Dagster server)."""
    from pipelines.cli.settings import unset_sentences
    from pipelines.progress import step

    dates = nights.resolve(world_nights)
    _nights_known(dates)
    _warehouse_free()
    from pipelines.nightly import run_night

    unset = unset_sentences(sources or None)
    ok = True
    for night in dates:
        with step(f"night {night}: the nightly job"):
            success, lines = run_night(night, list(sources) or None)
        click.echo(f"night {night}: {'complete' if success else 'finished with failures'}")
        for line in lines:
            # A failure of several lines (a setting missing per key) is shown on one.
            click.echo(f"  {'; '.join(line.splitlines())}")
        ok = ok and success
    for sentence in unset:
        click.echo(f"joinedup run: {sentence}", err=True)
    return 0 if ok else 1


def _nights_known(dates: list[dt.date]) -> None:
    """Stop with one sentence, before anything runs, at a night the world holds no
    extracts for: the nightly job's partitions are the nights whose extracts arrived."""
    found = set(extract_nights())
    for night in dates:
        if night not in found:
            raise UsageError(_not_a_night(night))


def _not_a_night(night: dt.date) -> str:
    """`<night> is not one of the nightly job's nights: ...`, naming those there are."""
    from pipelines.environment import world_dir

    found = [n.isoformat() for n in extract_nights()]
    if not found:
        return f"{night} is not one of the nightly job's nights: {world_dir()} has no extracts yet."
    listed = ", ".join(found[:-1]) + " and " + found[-1] if len(found) > 1 else found[0]
    return (
        f"{night} is not one of the nightly job's nights (a night is one once its extracts "
        f"arrive): the world in {world_dir()} has extracts for {listed}."
    )


@click.group(cls=Group)
def load() -> None:
    """Release a held load: accept a drop a guard held."""


@load.command()
@click.option("--source", required=True, help="the source whose load was held")
@click.option("--night", type=NIGHT, required=True, help="the night held")
@click.option("--reason", required=True, help="why the drop is real (recorded)")
@click.option("--by", help="who releases it (default: the signed-in user)")
def release(source: str, night: dt.date, reason: str, by: str | None) -> int:
    """Accept a load a guard held, recording who and why."""
    import getpass

    from connectors.config import ConfigError, load_sources
    from connectors.ingest import ReleaseError, release_load
    from connectors.warehouse import Warehouse, WarehouseBusy
    from pipelines.environment import set_world_defaults, sources_file, warehouse_wait

    warehouse = existing_warehouse("nothing has been loaded")
    set_world_defaults()
    try:
        configured = load_sources(sources_file(), only=[source])[source]
        wh = Warehouse(warehouse, warehouse_wait())
    except (ConfigError, WarehouseBusy) as exc:
        raise UsageError(str(exc)) from exc
    try:
        report = release_load(wh, source, configured, night, by or getpass.getuser(), reason)
    except ReleaseError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        wh.close()
    click.echo(report.line())
    if report.status != "complete":
        return 1
    click.echo(
        f"released by {report.released_by}, recorded in load_releases; link and score the "
        f"night again with `joinedup run --night {night}`"
    )
    return 0


@click.group(cls=Group, short_help="Check sources' config on their extracts, writing nothing.")
def sources() -> None:
    """Check sources' config against their extract or a sample, writing nothing."""


@sources.command()
@click.option("--source", help="one source (default: every one)")
@click.option(
    "--file",
    "sample",
    type=PATH,
    help="a sample file or folder read in place of the night's extract",
)
@click.option("--table", help="the table the sample file is for, where a source has several")
@click.option("--night", type=NIGHT, help="the night to read (default: today)")
def check(source: str | None, sample: Path | None, table: str | None, night: dt.date | None) -> int:
    """Try sources' config on an extract or a sample, writing nothing.

    Columns found and missing, rows that would be quarantined and why, what would hold
    the load, the range of every date parsed.
    """
    from connectors.check import CheckError, check_source, with_sample
    from connectors.config import ConfigError, load_sources
    from pipelines.environment import set_world_defaults, sources_file

    if sample and not source:
        raise UsageError("--file needs --source: the source whose config reads it")
    set_world_defaults()
    try:
        found_sources = load_sources(sources_file(), only=[source] if source else None)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    ok = True
    for name, configured in found_sources.items():
        try:
            read = with_sample(configured, sample, table) if sample else configured
        except CheckError as exc:
            raise UsageError(str(exc)) from exc
        found = check_source(name, read, night or dt.date.today())
        click.echo("\n".join(found.lines()))
        ok = ok and found.ok
    return 0 if ok else 1
