"""`joinedup notebook`: the analyst's notebooks exported to read offline."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from pipelines.cli.params import PATH, Group, UsageError

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"


@click.group(cls=Group)
def notebook() -> None:
    """Export the analyst's notebooks to read offline."""


@notebook.command()
@click.argument("name")
@click.option("--out", type=PATH, required=True, help="folder for the page and its assets")
def export(name: str, out: Path) -> int:
    """Run notebook NAME (linkage_tuning, risk_review, insight_review, or a path) and write
    it to OUT/NAME.html with marimo's frontend beside it, to serve from loopback with
    `python -m http.server -b 127.0.0.1 -d OUT`; no session file is kept."""
    from pipelines.notebook_export import NotebookExportError, export_html

    path = Path(name) if name.endswith(".py") else NOTEBOOKS / f"{name}.py"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in NOTEBOOKS.glob("*.py")))
        raise UsageError(f"no notebook {path}: name one of {known}, or a .py file")
    try:
        done = export_html(path, out)
    except NotebookExportError as exc:
        raise UsageError(str(exc)) from exc
    click.echo(f"wrote {done.page} (with {done.assets}/)")
    click.echo(f"read it offline: python -m http.server -b 127.0.0.1 -d {out}")
    return 0


@notebook.command()
@click.argument("model", type=click.Choice(["linkage", "risk"]))
@click.argument("value", type=float)
@click.option("--why", required=True, help="the reason: the labels, precision and recall seen")
@click.option("--by", "who", default=lambda: os.environ.get("USER", ""), help="who decides")
@click.option("--yes", is_flag=True, help="write without asking, after showing the diff")
def threshold(model: str, value: float, why: str, who: str, yes: bool) -> int:
    """Write the threshold chosen in a notebook to matching.yaml (linkage) or risk.yaml
    (risk): the diff shown, who, when, why and the old value in a comment above it, the
    old file kept in history/ beside it."""
    from pipelines.environment import matching_file
    from pipelines.threshold_change import (
        MATCHING_KEY,
        RISK_KEY,
        ThresholdChangeError,
        change_threshold,
        preview_threshold,
    )

    path: Path
    key: tuple[str, ...]
    check: Callable[[Path], object]
    if model == "linkage":
        from matching import matching_config

        path, key, check = matching_file(), MATCHING_KEY, matching_config
    else:
        from risk_models.features import RISK_CONFIG
        from risk_models.scoring import risk_settings

        path, key, check = RISK_CONFIG, RISK_KEY, risk_settings
    try:
        click.echo(preview_threshold(path, key, value, who, why), nl=False)
        if not yes and not click.confirm(f"write this change to {path}?"):
            click.echo("nothing written")
            return 1
        done = change_threshold(path, key, value, who, why, check=check)
    except ThresholdChangeError as exc:
        raise UsageError(str(exc)) from exc
    click.echo(f"{path}: {done.key} {done.old} -> {done.new}; the old file kept as {done.kept}")
    return 0
