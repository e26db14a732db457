"""Demo users seeded from the alerts config and the store's alerts, and `joinedup inbox`
serving the real app on loopback."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import CONFIG, fill
from servers import free_port

from alerts.store import open_store
from inbox.tables import USERS
from inbox.users import authenticate, seed_demo_store


@pytest.fixture
def store_without_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    engine = open_store(url)
    fill(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(USERS))
    engine.dispose()
    return url


def test_demo_users_are_seeded_once_with_argon2_hashes(store_without_users: str) -> None:
    made = seed_demo_store(store_without_users, CONFIG, dt.datetime(2026, 11, 3))
    roles = {username: role for username, _, role in made}
    assert roles == {
        "mash_north": "professional",
        "police_public_protection": "professional",
        "asc_safeguarding": "professional",
        "pat.reid@police.example": "professional",
        "someone.else@adults.council.example": "professional",
        "duty_manager": "duty_manager",
        "analyst": "analyst",
        "manager": "manager",
        "admin": "admin",
    }
    engine = open_store(store_without_users)
    try:
        with engine.connect() as conn:
            hashes = [h for (h,) in conn.execute(sa.select(USERS.c.password_hash))]
        assert all(h.startswith("$argon2id$") for h in hashes)
        assert not {p for _, p, _ in made} & set(hashes)
        for username, password, role in made:
            user = authenticate(engine, username, password)
            assert user is not None and user.role == role
        assert authenticate(engine, "mash_north", made[0][1] + "x") is None
    finally:
        engine.dispose()
    assert seed_demo_store(store_without_users, CONFIG, dt.datetime(2026, 11, 3)) == []


@pytest.mark.slow  # the command line imports the whole pipeline (about 12 s)
def test_joinedup_inbox_serves_on_loopback(store_without_users: str, tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"JOINEDUP_STORE": store_without_users, "JOINEDUP_DATA": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "inbox", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a loaded machine imports slowly
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/alerts", follow_redirects=True)
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert page.status_code == 200
        assert "Sign in" in page.text
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=60)
    # No account is made outside the demo: the command says how to make the first.
    assert "Demo users" not in out and "No accounts yet" in out
    assert "joinedup inbox add-user USERNAME --role admin" in out
    assert f"http://127.0.0.1:{port}/" in out
    engine = open_store(store_without_users)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar() == 0
    finally:
        engine.dispose()


def test_an_admin_makes_an_account_whose_first_password_is_shown_once(
    store_without_users: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from inbox.auditchain import verify
    from pipelines.cli import main

    monkeypatch.setenv("JOINEDUP_STORE", store_without_users)
    assert main(["inbox", "add-user", "Kim.Lowe", "--role", "admin"]) == 0
    out = capsys.readouterr().out
    password = out.split("first password ")[1].split(" ")[0]
    engine = open_store(store_without_users)
    try:
        user = authenticate(engine, "kim.lowe", password)
        assert user is not None and user.role == "admin"
        assert verify(engine).broken is None  # the account's making is a line of the log
    finally:
        engine.dispose()
    assert main(["inbox", "add-user", "kim.lowe", "--role", "admin"]) == 2
    assert "kim.lowe" in capsys.readouterr().err
