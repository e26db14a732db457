"""Password guessing is slowed: five failures for an account, or twenty from one address,
within fifteen minutes, and sign-ins are refused (429) without the password being checked,
until the oldest of those failures is fifteen minutes old."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from conftest import PASSWORD, Inbox, csrf_of
from fastapi.testclient import TestClient

from inbox.tables import SIGN_INS


def _try(client: TestClient, username: str, password: str) -> int:
    token = csrf_of(client, "/signin")
    answer = client.post(
        "/signin",
        data={"username": username, "password": password, "csrf": token, "next": "/"},
        follow_redirects=False,
    )
    if answer.status_code == 429:
        assert "Too many failed sign-ins: try again after " in answer.text
        assert "joinedup_session" not in answer.cookies
    return answer.status_code


def _age(inbox: Inbox, minutes: int) -> None:
    """As if the attempts so far had been made this many minutes earlier."""
    with inbox.engine.begin() as conn:
        for row in conn.execute(sa.select(SIGN_INS.c.id, SIGN_INS.c.at)).all():
            earlier = row.at - dt.timedelta(minutes=minutes)
            conn.execute(sa.update(SIGN_INS).where(SIGN_INS.c.id == row.id).values(at=earlier))


def test_five_failures_hold_the_account_even_from_the_right_password(inbox: Inbox) -> None:
    client = inbox.client("")
    assert [_try(client, "mash_north", "guess") for _ in range(5)] == [401] * 5
    assert _try(client, "mash_north", PASSWORD) == 429
    # Another account is not held by them.
    assert _try(client, "duty_manager", PASSWORD) == 303
    # Held attempts are not counted, so the hold ends fifteen minutes after the failures.
    _age(inbox, 14)
    assert _try(client, "mash_north", PASSWORD) == 429
    _age(inbox, 2)
    assert _try(client, "mash_north", PASSWORD) == 303


def test_a_success_clears_the_accounts_failures(inbox: Inbox) -> None:
    client = inbox.client("")
    assert [_try(client, "mash_north", "guess") for _ in range(4)] == [401] * 4
    assert _try(client, "mash_north", PASSWORD) == 303
    assert [_try(client, "mash_north", "guess") for _ in range(4)] == [401] * 4
    assert _try(client, "mash_north", PASSWORD) == 303


def test_one_address_guessing_across_accounts_is_held(inbox: Inbox) -> None:
    client = inbox.client("")
    names = [f"nobody{i}@example.org" for i in range(20)]
    assert [_try(client, name, "guess") for name in names] == [401] * 20
    assert _try(client, "analyst", PASSWORD) == 429
    with inbox.engine.connect() as conn:
        kept = conn.execute(sa.select(SIGN_INS.c.username, SIGN_INS.c.succeeded)).all()
    # Every failure is kept, with what was typed as the sign-in; never a password.
    assert sorted(kept) == sorted((name, False) for name in names)
    _age(inbox, 16)
    assert _try(client, "analyst", PASSWORD) == 303
