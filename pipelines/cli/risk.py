"""`joinedup risk`: train and judge the risk model, score nights, backtest a model or a
threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from pipelines.cli.alerts import bring_back_outcomes
from pipelines.cli.params import (
    NIGHT,
    PATH,
    PROBABILITY,
    Group,
    Nights,
    UsageError,
    existing_warehouse,
    night_or_all,
)

NO_WAREHOUSE = "load and link some nights first"


@contextmanager
def _refusals() -> Iterator[None]:
    """What the risk stage refuses (a model that does not fit, a bad setting, dates it
    cannot replay): a usage error, with nothing written."""
    from risk_models import RISK_ERRORS

    try:
        yield
    except RISK_ERRORS as exc:
        raise UsageError(str(exc)) from exc


def _world_folder(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not (value / "truth").is_dir():
        raise click.BadParameter(f"{value}: not a world folder (no truth/ in it)", ctx, param)
    return value


# Options that more than one risk command takes, spelt once.
world_option = click.option(
    "--world",
    type=PATH,
    callback=_world_folder,
    help="also judge against this world's truth",
)
model_option = click.option("--model", help="a trained version, e.g. risk-v2 (default: the newest)")
kind_option = click.option(
    "--kind", type=click.Choice(["logistic", "boosted"]), help="default: the one that scores"
)
threshold_option = click.option(
    "--threshold", type=PROBABILITY, help="override risk.yaml's model.threshold"
)
capacity_option = click.option("--capacity", type=int, help="override risk.yaml's model.capacity")
out_option = click.option("--out", type=PATH, help="folder for the files written")


@click.group(cls=Group, short_help="Train, evaluate and backtest the risk model; score nights.")
def risk() -> None:
    """Train and judge the risk model, score nights, backtest a model or threshold."""


@risk.command()
@world_option
def train(world: Path | None) -> int:
    """Train and judge both risk models: a new data/models/risk-vN/.

    Judged on held-out persons, and against a world's truth with --world.
    """
    from pipelines.environment import models_dir
    from risk_models import train_risk

    warehouse = existing_warehouse(NO_WAREHOUSE)
    with _refusals():
        click.echo("\n".join(bring_back_outcomes(warehouse, dt.datetime.now(dt.UTC))))
        report = train_risk(warehouse, models_dir(), world)
    click.echo("\n".join(report.lines))
    for report_file in sorted(report.folder.glob("*/**/evaluation.html")):
        click.echo(f"  report: {report_file}")
    return 0


@risk.command()
@model_option
@kind_option
@threshold_option
@capacity_option
@world_option
@out_option
def evaluate(
    model: str | None,
    kind: str | None,
    threshold: float | None,
    capacity: int | None,
    world: Path | None,
    out: Path | None,
) -> int:
    """Judge a saved model again, at another threshold or capacity.

    On the persons it was judged on in training; a fresh report in risk-vN/<kind>/reviews/
    (or --out).
    """
    from pipelines.environment import models_dir
    from risk_models import evaluate_risk, model_folder

    warehouse = existing_warehouse(NO_WAREHOUSE)
    with _refusals():
        folder = model_folder(models_dir(), model)
        report = evaluate_risk(warehouse, folder, kind, threshold, capacity, world, out)
    click.echo("\n".join(report.lines))
    for written in report.written:
        click.echo(f"  wrote {written}")
    return 0


@risk.command()
@night_or_all(night_help="night to score (repeatable)", all_help="every linked night, oldest first")
@model_option
def score(nights: Nights, model: str | None) -> int:
    """Score every person linked on the nights into `scores`."""
    from pipelines.environment import models_dir
    from risk_models import model_folder, nights_to_score, risk_settings, score_night, scoring_model

    warehouse = existing_warehouse(NO_WAREHOUSE)
    with _refusals():
        to_score = nights_to_score(warehouse, None if nights.every else nights.named)
        # Everything a night needs is checked before the first night is written.
        folder = model_folder(models_dir(), model)
        settings = risk_settings()
        scoring_model(folder)
        for night in to_score:
            report = score_night(warehouse, night, folder, settings)
            click.echo(f"night {night}: {report.line()}")
    return 0


@risk.command()
@click.option("--from", "start", type=NIGHT, required=True, help="the first as-of date")
@click.option("--to", "end", type=NIGHT, required=True, help="the last as-of date")
@click.option("--every", type=int, default=7, show_default=True, help="days between as-of dates")
@model_option
@kind_option
@threshold_option
@capacity_option
@out_option
def backtest(
    start: dt.date,
    end: dt.date,
    every: int,
    model: str | None,
    kind: str | None,
    threshold: float | None,
    capacity: int | None,
    out: Path | None,
) -> int:
    """Replay past as-of dates against what happened.

    Flags, precision, recall and new flags per date, for a model at a threshold and a
    capacity; backtest.json and backtest.csv in the model's folder (or --out).
    """
    from pipelines.environment import models_dir
    from risk_models import backtest_risk, model_folder

    warehouse = existing_warehouse(NO_WAREHOUSE)
    with _refusals():
        folder = model_folder(models_dir(), model)
        report = backtest_risk(warehouse, folder, start, end, every, kind, threshold, capacity, out)
    click.echo("\n".join(report.lines))
    for written in report.written:
        click.echo(f"  wrote {written}")
    return 0
