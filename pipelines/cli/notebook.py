"""`joinedup notebook`: the analyst's notebooks exported to read offline."""

from __future__ import annotations

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
