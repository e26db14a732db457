"""`joinedup link`: train the linkage model, link nights into persons, judge the links
against clerical labels, or link any extracts to files."""

from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli.params import (
    PATH,
    PROBABILITY,
    Group,
    Nights,
    UsageError,
    existing_warehouse,
    night_or_all,
    world_nights,
)

NO_WAREHOUSE = "load some nights first (joinedup run)"


@click.group(cls=Group, short_help="Train the linkage model, link nights, or link any files.")
def link() -> None:
    """Train the linkage model, link nights into persons, or link any files."""


@link.command()
def train() -> int:
    """Train the linkage model: a new version in data/models/."""
    import json

    from matching import train_model
    from pipelines.environment import models_dir
    from pipelines.progress import step

    warehouse = existing_warehouse(NO_WAREHOUSE)
    try:
        with step("training the linkage model"):
            path = train_model(warehouse, models_dir())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    click.echo(f"trained {path}")
    for skipped in json.loads(path.read_text()).get("skipped_em_sessions", []):
        click.echo(f"  skipped {skipped}")
    return 0


@link.command("run")
@night_or_all(
    night_help="night to link (repeatable)", all_help="every night in the world, oldest first"
)
@click.option("--threshold", type=PROBABILITY, help="override pipelines/config/matching.yaml")
@click.option(
    "--full", is_flag=True, help="score every record, even where the night could link incrementally"
)
@click.option(
    "--again",
    is_flag=True,
    help="link the newest night again even if nothing loaded since it was linked",
)
def run_nights(nights: Nights, threshold: float | None, full: bool, again: bool) -> int:
    """Link nights into persons with stable ids."""
    from matching import latest_model, link_night, matching_config
    from pipelines.environment import matching_file, models_dir

    warehouse = existing_warehouse(NO_WAREHOUSE)
    try:
        settings = matching_config(matching_file())
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    model = latest_model(models_dir())
    if model is None:
        raise UsageError("no trained model: run `joinedup link train` first")
    for night in nights.resolve(world_nights):
        try:
            report = link_night(
                warehouse,
                night,
                model,
                threshold if threshold is not None else settings.threshold,
                incremental=not full,
                max_pairs_per_rule=settings.max_pairs_per_rule,
                again=again,
            )
        except ValueError as exc:  # a model that does not fit, or nights out of order
            raise UsageError(str(exc)) from exc
        mode = "" if report.status != "linked" else f" ({report.mode})"
        click.echo(f"night {night}{mode}: {report.line()}")
    return 0


@link.command()
@click.option(
    "--labels",
    type=PATH,
    help="CSV of unique_id_l, unique_id_r, label (match, non-match or unsure); with --run, "
    "the run's linkage.labels by default",
)
@click.option("--run", type=PATH, help="a `link files` out folder, judged instead of a night")
def evaluate(labels: Path | None, run: Path | None) -> int:
    """Judge the newest night's links, or a `link files` run's, against clerical labels.

    Every scored pair at several thresholds, the links kept at the threshold, and the
    persons (clusters).
    """
    from matching.evaluate import (
        LabelsError,
        NotARun,
        NotLinkedYet,
        evaluate_labels,
        evaluate_run,
    )

    try:
        if run is not None:
            report = evaluate_run(run, labels)
        elif labels is None:
            raise UsageError("--labels is needed to judge a night (or give --run)")
        else:
            report = evaluate_labels(existing_warehouse(NO_WAREHOUSE), labels)
    except (LabelsError, NotLinkedYet, NotARun) as exc:
        raise UsageError(str(exc)) from exc
    click.echo("\n".join(report.lines()))
    return 0


@link.command()
@click.option(
    "--config", type=PATH, required=True, help="YAML naming the extracts and the linkage settings"
)
@click.option("--out", type=PATH, required=True, help="folder for pairs, clusters and the summary")
@click.option("--model", type=PATH, help="a saved model (data/models/linkage-vN.json)")
@click.option("--threshold", type=PROBABILITY, help="override the config's linkage.threshold")
@click.option("--force", is_flag=True, help="replace an earlier run's files")
@click.option(
    "--postcode-rule",
    type=click.Choice(["uk", "us", "au", "ie", "any"]),
    help="whose postcodes the extracts hold, where a field does not say: uk (default), "
    "us (ZIP), au, ie (Eircode), any (any code); overrides linkage.postcode_rule",
)
@click.option(
    "--one-to-one",
    is_flag=True,
    help="each record links to at most one record of each other source",
)
def files(
    config: Path,
    out: Path,
    model: Path | None,
    threshold: float | None,
    force: bool,
    postcode_rule: str | None,
    one_to_one: bool,
) -> int:
    """Link any extracts to files, without the warehouse.

    The extracts a config names (two or more, or one to deduplicate), into persons or
    households: pairs with match probabilities, clusters, quarantined rows and the model.
    """
    from matching.files import LinkFilesError, link_files

    try:
        report = link_files(config, out, model, threshold, force, postcode_rule, one_to_one)
    except LinkFilesError as exc:
        raise UsageError(str(exc)) from exc
    click.echo("\n".join(report.lines()))
    return 0
