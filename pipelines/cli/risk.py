"""`joinedup risk`: train and judge the risk model, choose the version that scores (promote,
retire, roll back), score nights, backtest a model or a threshold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from risk_models import Decision, Standing

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
reason_option = click.option("--reason", required=True, help="why (kept in the register)")
by_option = click.option("--by", help="who decides (default: the signed-in user)")


@click.group(
    cls=Group, short_help="Train, evaluate, promote and backtest the risk model; score nights."
)
def risk() -> None:
    """Train and judge the risk model, choose the version that scores, score nights,
    backtest a model or threshold."""


@risk.command()
@world_option
def train(world: Path | None) -> int:
    """Train and judge both risk models: a new data/models/risk-vN/.

    Judged on held-out persons, and against a world's truth with --world.
    """
    from pipelines.environment import models_dir
    from pipelines.progress import step
    from risk_models import standing, train_risk

    warehouse = existing_warehouse(NO_WAREHOUSE)
    with _refusals():
        standing(models_dir())  # a register that cannot be read is mended before training
        click.echo("\n".join(bring_back_outcomes(warehouse, dt.datetime.now(dt.UTC))))
        with step("training the risk models (logistic, boosted)"):
            report = train_risk(warehouse, models_dir(), world)
    click.echo("\n".join(report.lines))
    for report_file in sorted(report.folder.glob("*/**/evaluation.html")):
        click.echo(f"  report: {report_file}")
    now, version = standing(models_dir()), report.folder.name
    if now.ever_promoted:
        click.echo(
            f"{version} is a candidate: {now.status()}; once it is reviewed, "
            f"`joinedup risk promote --model {version} --reason ...` makes it score"
        )
    else:
        click.echo(f"{now.status()}; `joinedup risk promote` chooses the version that scores")
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
@click.option(
    "--model", help="a trained version, e.g. risk-v2 (default: the one the register says scores)"
)
def score(nights: Nights, model: str | None) -> int:
    """Score every person linked on the nights into `scores`."""
    from pipelines.environment import models_dir
    from risk_models import (
        RiskError,
        model_folder,
        nights_to_score,
        risk_settings,
        score_night,
        scoring_model,
        standing,
    )

    warehouse = existing_warehouse(NO_WAREHOUSE)
    with _refusals():
        to_score = nights_to_score(warehouse, None if nights.every else nights.named)
        # Everything a night needs is checked before the first night is written.
        chosen = standing(models_dir())
        folder = model_folder(models_dir(), model) if model else chosen.folder()
        if folder is None:
            raise RiskError(chosen.status())
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


def _decided(decide: Callable[[Path], Decision]) -> tuple[Standing, Decision, Standing]:
    """A decision recorded in the models folder's register, with where the register stood
    before and after it."""
    from pipelines.environment import models_dir
    from risk_models import standing

    with _refusals():
        before = standing(models_dir())
        decision = decide(models_dir())
        return before, decision, standing(models_dir())


@risk.command()
@click.option("--model", required=True, help="the trained version to promote, e.g. risk-v3")
@reason_option
@by_option
def promote(model: str, reason: str, by: str | None) -> int:
    """Make a version the one that scores.

    Records who and why in the models folder's register. Refused for a version that is
    not there, did not finish training, reads another feature set than tonight's, or
    scores already.
    """
    from risk_models import promote as promote_version

    before, decision, _ = _decided(lambda models: promote_version(models, model, reason, by))
    instead = f", in place of {before.scoring}" if before.scoring not in (None, model) else ""
    click.echo(f"{model} promoted by {decision.who}: it scores from the next scoring run{instead}")
    earlier = before.last(model)
    if model in before.retired and earlier is not None:
        click.echo(f"  promoted again: it was {earlier.about(model)}")
    return 0


@risk.command()
@click.option("--model", required=True, help="the version to retire, e.g. risk-v2")
@reason_option
@by_option
def retire(model: str, reason: str, by: str | None) -> int:
    """Take a version out of service.

    Records who and why in the register, and says which version scores next, if any.
    """
    from risk_models import retire as retire_version

    before, decision, after = _decided(lambda models: retire_version(models, model, reason, by))
    if before.scoring == model:
        click.echo(f"{model} retired by {decision.who}; it scored until now")
        click.echo(f"from the next scoring run: {after.status()}")
    else:
        click.echo(f"{model} retired by {decision.who}; what scores is unchanged: {after.status()}")
    return 0


@risk.command()
@reason_option
@by_option
def rollback(reason: str, by: str | None) -> int:
    """Score again with the version promoted before.

    Promotes again the version promoted before the one that scores, passing over retired
    ones, and retires the one rolled back from; records who and why in the register.
    """
    from risk_models import rollback as roll_back

    _, decision, _ = _decided(lambda models: roll_back(models, reason, by))
    click.echo(
        f"rolled back from {decision.rolled_back_from} to {decision.version} by {decision.who}: "
        f"{decision.version} scores from the next scoring run, and {decision.rolled_back_from} "
        "is retired (`joinedup risk promote` brings it back)"
    )
    return 0


@risk.command()
def models() -> int:
    """List the trained versions and which scores.

    For each: when it was trained, the kind that scores, its held-out AUC, its status
    (scoring, promoted earlier, retired, candidate) and the last decision about it.
    """
    from pipelines.environment import models_dir
    from risk_models import standing, version_lines

    with _refusals():
        now = standing(models_dir())
        lines = version_lines(models_dir())
    click.echo(now.status())
    if not lines:
        return 0
    click.echo(
        f"{'version':<10} {'trained':<11} {'kind':<8} {'held-out AUC':>12}  {'status':<17} "
        "last decision"
    )
    for line in lines:
        auc = "-" if line.auc is None else f"{line.auc:.3f}"
        last = "-" if line.last is None else line.last.about(line.version)
        click.echo(
            f"{line.version:<10} {line.trained_on:<11} {line.kind:<8} {auc:>12}  "
            f"{line.state:<17} {last}"
        )
    return 0
