"""`joinedup alerts` and `inbox`: select, route and deliver a night's alerts, retry and
escalate them, bring closed alerts' outcomes back; serve the inbox they are read in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipelines.cli.params import NIGHT, Group, UsageError

if TYPE_CHECKING:
    from inbox.auditchain import Verdict


def bring_back_outcomes(warehouse: Path, now: dt.datetime) -> list[str]:
    """Closed alerts' outcomes into the warehouse as labels (report lines)."""
    from inbox.outcomes import OutcomesCopyError, bring_back
    from pipelines.environment import store_url
    from risk_models.features import FeaturesError

    try:
        return bring_back(store_url(), warehouse, now)
    except (OutcomesCopyError, FeaturesError) as exc:
        raise UsageError(str(exc)) from exc


@contextmanager
def _refusals() -> Iterator[None]:
    """The alerts config or the warehouse cannot serve: a usage error."""
    from alerts import ConfigError, WarehouseError

    try:
        yield
    except (ConfigError, WarehouseError) as exc:
        raise UsageError(str(exc)) from exc


@click.group(cls=Group, short_help="Send a night's alerts, retry, escalate, bring outcomes back.")
def alerts() -> None:
    """Select, route and deliver alerts; retry; escalate; bring closed alerts' outcomes
    back to the warehouse."""


@alerts.command("run")
@click.option(
    "--night", "nights", type=NIGHT, multiple=True, required=True, help="night scored (repeatable)"
)
def run_alerts(nights: tuple[dt.date, ...]) -> int:
    """Select, route and deliver nights' alerts, once each.

    Closed alerts' outcomes are brought back to the warehouse first.
    """
    from alerts import run_alerts as run
    from pipelines.environment import alerts_file, store_url, warehouse_path

    now = dt.datetime.now(dt.UTC)
    with _refusals():
        # Last night's closures go back to the warehouse before tonight's alerts.
        click.echo("\n".join(bring_back_outcomes(warehouse_path(), now)))
        for night in nights:
            report = run(warehouse_path(), night, store_url(), alerts_file(), now)
            click.echo("\n".join(report.lines()))
    return 0


@alerts.command()
def retry() -> int:
    """Resend failed deliveries that are due."""
    from alerts import retry_failed
    from pipelines.environment import alerts_file, store_url

    with _refusals():
        report = retry_failed(store_url(), alerts_file(), dt.datetime.now(dt.UTC))
    click.echo("\n".join(report.lines()))
    return 0


@alerts.command()
def escalate() -> int:
    """Send unacknowledged alerts to the duty manager."""
    from alerts import escalate as send_up
    from pipelines.environment import alerts_file, store_url

    with _refusals():
        report = send_up(store_url(), alerts_file(), dt.datetime.now(dt.UTC))
    click.echo("\n".join(report.lines()))
    return 0


@alerts.command()
def outcomes() -> int:
    """Copy closed alerts' outcomes into the warehouse, as labels."""
    from pipelines.environment import warehouse_path

    click.echo("\n".join(bring_back_outcomes(warehouse_path(), dt.datetime.now(dt.UTC))))
    return 0


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.pass_context
def inbox(ctx: click.Context, host: str, port: int) -> int:
    """Serve the inbox over the store; or one of its commands.

    No account is ever made here: `joinedup demo` makes the demo's, and `joinedup inbox
    add-user` an organisation's.

    The client address sign-ins are throttled by is the connection's, unless it comes
    from an address in $JOINEDUP_TRUSTED_PROXIES (comma-separated): then it is the one
    that proxy puts in X-Forwarded-For.
    """
    if ctx.invoked_subcommand is not None:
        return 0
    import os
    import secrets

    import uvicorn

    from alerts import ConfigError
    from inbox.app import create_app
    from inbox.users import count_users
    from inbox.wording import Outcome
    from insight.config import load_insight_config
    from pipelines.environment import (
        alerts_file,
        inbox_secret,
        insight_file,
        store_url,
        warehouse_path,
    )

    # The inbox sends nothing, but the alerts config names the mail relay in its targets.
    os.environ.setdefault("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    secret = inbox_secret() or secrets.token_urlsafe(32)
    try:
        from risk_models.outcomes import outcome_config

        rule = load_insight_config(insight_file()).disclosure
        chance_of = outcome_config()  # what the alert page says a score is the chance of
        app = create_app(
            store_url(),
            alerts_file(),
            secret,
            warehouse=warehouse_path(),
            disclosure=rule,
            outcome=Outcome(chance_of.horizon_days, tuple(chance_of.types)),
        )
        accounts = count_users(store_url())
    except (ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from exc
    verdict = audit_verdict()
    if verdict.broken:
        raise UsageError(
            f"{verdict.words()}. The inbox will not start on it: restore the store from a "
            "backup, or ask the data protection officer how to proceed."
        )
    if not accounts:
        click.echo(
            "No accounts yet: nobody can sign in. Make the first admin with "
            "`joinedup inbox add-user USERNAME --role admin`."
        )
    if not inbox_secret():
        click.echo("JOINEDUP_INBOX_SECRET is not set: sessions end when the inbox stops.")
    click.echo(f"The inbox: http://{host}:{port}/")
    trusted = os.environ.get("JOINEDUP_TRUSTED_PROXIES", "").strip()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )
    return 0


def audit_verdict() -> Verdict:
    """Walk the store's audit log (inbox.auditchain.verify)."""
    import inbox.tables  # noqa: F401  (its tables join the store's metadata)
    from alerts.store import open_store
    from inbox.auditchain import verify
    from pipelines.environment import store_url

    engine = open_store(store_url())
    try:
        return verify(engine)
    finally:
        engine.dispose()


@inbox.group()
def audit() -> None:
    """The inbox's audit log."""


@audit.command()
def verify() -> int:
    """Check the audit log's hash chain, line by line; exit 1 if it is broken."""
    verdict = audit_verdict()
    click.echo(verdict.words())
    return 1 if verdict.broken else 0


@inbox.command("add-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["professional", "duty_manager", "analyst", "admin", "manager"]),
    required=True,
)
@click.option("--email", help="their work email (a professional's alerts are routed by it)")
@click.option("--team", help="their team's id in alerts.yaml")
def add_user_command(username: str, role: str, email: str | None, team: str | None) -> int:
    """Make an account; its first password is printed once (the store keeps only a hash)."""
    import secrets

    import sqlalchemy as sa

    import inbox.tables  # noqa: F401  (its tables join the store's metadata)
    from alerts.store import open_store
    from inbox.users import add_user
    from pipelines.environment import store_url

    password = secrets.token_urlsafe(12)
    engine = open_store(store_url())
    try:
        add_user(engine, username, password, role, dt.datetime.now(dt.UTC), email=email, team=team)
    except (ValueError, sa.exc.IntegrityError) as exc:
        raise UsageError(f"{username}: {exc}") from exc
    finally:
        engine.dispose()
    click.echo(f"{username.strip().lower()} ({role}): first password {password} (shown once)")
    return 0


@inbox.command()
@click.argument("username")
def unlock(username: str) -> int:
    """Clear an account's failed sign-ins from every address (for an admin)."""
    import inbox.tables  # noqa: F401  (its tables join the store's metadata)
    from alerts.store import open_store
    from inbox import throttle
    from pipelines.environment import store_url

    engine = open_store(store_url())
    try:
        throttle.unlock(engine, username, dt.datetime.now(dt.UTC))
    finally:
        engine.dispose()
    click.echo(f"{username.strip().lower()}: failed sign-ins cleared; they can sign in now.")
    return 0
