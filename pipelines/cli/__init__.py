"""The `joinedup` command: a click group of commands, one module per group of them.

Each command imports the stages it runs when it runs, so `joinedup --help` (and any
command's help) loads neither Dagster, scikit-learn nor Splink.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from pipelines.cli.alerts import alerts, inbox
from pipelines.cli.insight import insight
from pipelines.cli.link import link
from pipelines.cli.nightly import load, run, sources
from pipelines.cli.notebook import notebook
from pipelines.cli.params import Group, UsageError
from pipelines.cli.risk import risk
from pipelines.cli.world import demo, police_api, world

__all__ = ["UsageError", "joinedup", "main"]

INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C


@click.group(
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def joinedup() -> None:
    """joinedup: a council's and its partners' records linked into persons, scored for
    risk, and alerted to the professionals who can act."""


for command in (
    world,
    police_api,
    run,
    load,
    sources,
    link,
    risk,
    alerts,
    insight,
    notebook,
    inbox,
    demo,
):
    joinedup.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `joinedup` with these arguments (the process's by default); the exit status.

    A usage error (click's, or a command's own) prints one line on stderr,
    `joinedup <command>: <message>`, and returns 2, with nothing written.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = joinedup.main(args, prog_name="joinedup", standalone_mode=False)
    except click.ClickException as exc:
        ctx = exc.ctx if isinstance(exc, click.UsageError) else None
        where = ctx.command_path if ctx is not None else "joinedup"
        click.echo(f"{where}: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("joinedup: interrupted", err=True)
        return INTERRUPTED
    return code if isinstance(code, int) else 0
