"""`joinedup world`, `police-api` and `demo`: make a synthetic world, serve its police
incidents, run the whole product on one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipelines.cli.params import NIGHT, PATH, UsageError

if TYPE_CHECKING:
    from world.config import WorldConfig


def world_config(
    config: Path | None, sets: Sequence[str], named: Mapping[str, object]
) -> WorldConfig:
    """Settings from a YAML file, then --set overrides, then the named options given."""
    import textwrap

    from common import ConfigError, load_settings
    from world.config import WorldConfig

    overrides: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, for example errors.typo=0.05")
        key, text = item.split("=", 1)
        overrides[key.strip()] = text.strip()
    for name, value in named.items():
        if value is not None:
            overrides.pop(name, None)  # the named option comes last: it wins
            overrides[name] = value
    try:
        return load_settings(config, WorldConfig, expand_env=False, overrides=overrides)
    except ConfigError as exc:
        raise UsageError("invalid world settings:\n" + textwrap.indent(str(exc), "  ")) from exc


@click.command()
@click.option("--people", type=int, help="people on the first night (default 20000)")
@click.option("--seed", type=int, help="random seed: the same seed gives the same bytes")
@click.option("--nights", type=int, help="nightly extracts to write (default 3)")
@click.option("--first-night", type=NIGHT, help="date of the first night")
@click.option(
    "--out", type=PATH, required=True, help="folder to write (new, empty, or an earlier world)"
)
@click.option("--config", type=PATH, help="YAML file of settings (errors:, nightly:, population:)")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="one setting, for example errors.typo=0.05 (repeatable)",
)
def world(
    people: int | None,
    seed: int | None,
    nights: int | None,
    first_night: dt.date | None,
    out: Path,
    config: Path | None,
    sets: tuple[str, ...],
) -> int:
    """Make a synthetic multi-agency world."""
    from pipelines.progress import step
    from world.generate import WorldError, check_out_dir, generate

    named = {"people": people, "seed": seed, "nights": nights, "first_night": first_night}
    cfg = world_config(config, sets, named)
    try:
        check_out_dir(out)  # a refusal is one line, before any progress
        with step(f"making a world of {cfg.people:,} people in {out}") as making:
            report = generate(cfg, out, on_stage=making.note)
    except WorldError as exc:
        raise UsageError(str(exc)) from exc
    click.echo("\n".join(report.lines()))
    return 0


@click.command("police-api")
@click.option("--world", "world_folder", type=PATH, required=True, help="world folder")
@click.option("--port", type=int, default=8765, show_default=True)
def police_api(world_folder: Path, port: int) -> int:
    """Serve a world's police incidents on 127.0.0.1."""
    import secrets

    import uvicorn

    from pipelines.environment import police_token
    from world.police_api import create_app

    token = police_token() or secrets.token_urlsafe(24)
    if not police_token():
        click.echo(f"JOINEDUP_POLICE_TOKEN not set; this run's token is: {token}")
    click.echo(f"police API on http://127.0.0.1:{port}/api/v1/incidents (Ctrl-C stops it)")
    uvicorn.run(create_app(world_folder, token), host="127.0.0.1", port=port, log_level="warning")
    return 0


@click.command()
@click.option("--people", type=int, default=20_000, show_default=True)
@click.option("--nights", type=int, default=3, show_default=True)
@click.option("--fresh", is_flag=True, help="make the world anew even if one is there")
def demo(people: int, nights: int, fresh: bool) -> int:
    """Run the product end to end on a default world."""
    from pipelines import demo as product

    return product.run(people=people, nights=nights, fresh=fresh)
