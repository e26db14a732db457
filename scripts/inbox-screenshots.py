"""Screenshots of the inbox for docs/: a team's alert list and one alert's page.

Taken in Debian's Chromium (through Playwright) from a copy of the demo's store, served
by `joinedup inbox` on loopback; the demo's store itself is never changed. The copy gets
one more user, a professional of the chosen team with a password known here. The world
is synthetic: every name in the pictures is made up.

    ./dev demo                                      # if data/store.sqlite is missing
    .venv/bin/python scripts/inbox-screenshots.py   # docs/images/inbox-list.png, -alert.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Container
from pathlib import Path

import httpx
import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from alerts.config import load_config
from alerts.store import ALERTS, CASE_PACKS, open_store
from inbox.actions import list_alerts
from inbox.tables import PROFESSIONAL
from inbox.users import add_user, find_user
from pipelines.environment import alerts_file, data_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers for Chromium and ports
from servers import CHROMIUM_ARGS, free_port  # noqa: E402

USERNAME = "screenshots"


def main() -> int:
    """Copy the store, add the user, serve the inbox, take the two screenshots."""
    args = _parser().parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Chromium is not on PATH: run scripts/install-test-servers (as root)")
    if not args.store.is_file():
        sys.exit(f"no store at {args.store}: run ./dev demo first (about a minute)")
    # The alerts config names the mail relay in its targets; nothing is sent from here.
    os.environ.setdefault("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    config = load_config(alerts_file())
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="inbox-shots") as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.sqlite'}"
        _copy(args.store, Path(tmp) / "store.sqlite")
        engine = open_store(url)
        try:
            team = args.team or _team(engine, config.teams, args.most)
            if team not in config.teams:
                sys.exit(f"--team {team!r} is not a team in {alerts_file()}")
            add_user(
                engine,
                USERNAME,
                password,
                PROFESSIONAL,
                dt.datetime.now(dt.UTC),
                display_name=config.teams[team].name,
                team=team,
                agency=config.teams[team].agency,
            )
            reference = args.alert or _richest(engine, team)
        finally:
            engine.dispose()
        args.out.mkdir(parents=True, exist_ok=True)
        with _served(url) as base:
            _shoot(chromium, base, password, reference, args.out, args.width)
    print(f"team {team}; alert {reference}")
    print(f"wrote {args.out / 'inbox-list.png'} and {args.out / 'inbox-alert.png'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Screenshots of the inbox for docs/, from a copy of the demo's store."
    )
    p.add_argument("--store", type=Path, default=data_dir() / "store.sqlite", help="the demo's")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder to write")
    p.add_argument("--team", help="whose list to show (default: the busiest with <= --most)")
    p.add_argument("--most", type=int, default=20, help="most alerts in the list shown")
    p.add_argument("--alert", help="the alert to show (default: the fullest case pack)")
    p.add_argument("--width", type=int, default=1280, help="viewport width in pixels")
    return p


def _copy(source: Path, target: Path) -> None:
    """A consistent copy, even if the demo's store is being written meanwhile."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _team(engine: sa.Engine, teams: Container[str], most: int) -> str:
    """The team with the most alerts routed to it, of those with at most `most`."""
    query = (
        sa.select(ALERTS.c.routed_team, sa.func.count().label("n"))
        .group_by(ALERTS.c.routed_team)
        .having(sa.func.count() <= most)
        .order_by(sa.desc("n"), ALERTS.c.routed_team)
    )
    with engine.connect() as conn:
        for team, _ in conn.execute(query):
            if team in teams:
                return str(team)
    sys.exit(f"no team has between 1 and {most} alerts: give --team or a larger --most")


def _richest(engine: sa.Engine, team: str) -> str:
    """The alert in the team's list whose case pack says the most (events, household,
    agencies, lead professionals); the higher in the list on a tie."""
    user = find_user(engine, USERNAME)
    assert user is not None
    listed: list[str] = [a["reference"] for a in list_alerts(engine, user, None)]
    with engine.connect() as conn:
        packs = dict(
            conn.execute(
                sa.select(ALERTS.c.reference, CASE_PACKS.c.json)
                .join(CASE_PACKS, CASE_PACKS.c.alert_id == ALERTS.c.id)
                .where(ALERTS.c.reference.in_(listed))
            ).all()
        )

    def says(reference: str) -> int:
        pack = json.loads(packs[reference])
        members = (pack.get("household") or {}).get("members") or []
        return sum(
            min(len(part), 4)  # past four of a kind, more rows only make the page longer
            for part in (
                pack.get("recent_events") or [],
                members,
                pack.get("agencies_involved") or [],
                pack.get("lead_professionals") or [],
            )
        )

    with_packs = [r for r in listed if r in packs]
    if not with_packs:
        sys.exit(f"no alert in {team}'s list has a case pack: give --alert")
    return max(with_packs, key=lambda r: (says(r), -with_packs.index(r)))


class _served:
    """`joinedup inbox` over the store at `url`, on a free loopback port."""

    def __init__(self, url: str) -> None:
        self.port = free_port()
        self.env = os.environ | {
            "JOINEDUP_STORE": url,
            "JOINEDUP_INBOX_SECRET": secrets.token_urlsafe(32),
        }

    def __enter__(self) -> str:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "inbox", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120  # the command line imports the whole pipeline
        while True:
            try:
                httpx.get(f"{base}/signin").raise_for_status()
                return base
            except httpx.ConnectError:
                if self.server.poll() is not None or time.monotonic() > deadline:
                    self.server.kill()
                    sys.exit("joinedup inbox did not start: see its output above")
                time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        self.server.terminate()
        self.server.wait(timeout=30)


def _shoot(chromium: str, base: str, password: str, reference: str, out: Path, width: int) -> None:
    """Sign in as a person does, then save the list and the alert page, full length."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(base_url=base, viewport={"width": width, "height": 800})
            page.goto("/signin")
            page.get_by_label("Sign-in").fill(USERNAME)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Alerts", exact=True).wait_for()
            page.screenshot(path=out / "inbox-list.png", full_page=True)
            page.goto(f"/alerts/{reference}")
            page.get_by_role("heading", name="Household").wait_for()
            page.screenshot(path=out / "inbox-alert.png", full_page=True)
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
