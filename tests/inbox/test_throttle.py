"""Password guessing is slowed: five failures for an account, or twenty from one address,
within fifteen minutes, and sign-ins are refused (429) without the password being checked,
until the oldest of those failures is fifteen minutes old."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, Inbox, csrf_of
from fastapi.testclient import TestClient

import inbox.app as inbox_app
from inbox import throttle
from inbox.tables import SIGN_INS, USERS


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


def _signin_from(inbox: Inbox, address: str, username: str, password: str) -> int:
    """One sign-in from its own client at `address`, as a separate browser would."""
    app = inbox.client("").app
    with TestClient(app, base_url="http://127.0.0.1:8000", client=(address, 50000)) as c:
        return _try(c, username, password)


def _checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames whose passwords the inbox checks, from now on."""
    seen: list[str] = []
    real = inbox_app.authenticate

    def counting(engine: Any, username: str, password: str) -> Any:
        seen.append(username)
        return real(engine, username, password)

    monkeypatch.setattr(inbox_app, "authenticate", counting)
    return seen


def test_twenty_guesses_at_once_check_five_passwords(
    both_inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = _checked(monkeypatch)
    with ThreadPoolExecutor(20) as pool:
        answers = list(
            pool.map(
                lambda _: _signin_from(both_inbox, "10.0.0.66", "mash_north", "guess"), range(20)
            )
        )
    assert sorted(answers) == [401] * 5 + [429] * 15
    assert len(checked) == 5  # the other fifteen were refused unread


def test_a_burst_ending_in_the_right_password_does_not_sign_in(
    both_inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ThreadPoolExecutor(12) as pool:
        wrong = [
            pool.submit(_signin_from, both_inbox, "10.0.0.66", "mash_north", "guess")
            for _ in range(11)
        ]
        time.sleep(0.3)  # the eleven are in: counted, and held or being checked
        right = pool.submit(_signin_from, both_inbox, "10.0.0.66", "mash_north", PASSWORD)
        statuses = sorted(f.result() for f in wrong)
    assert statuses == [401] * 5 + [429] * 6
    assert right.result() == 429


def test_the_owner_is_not_held_by_someone_elses_guessing(both_inbox: Inbox) -> None:
    assert [_signin_from(both_inbox, "10.0.0.66", "mash_north", "x") for _ in range(6)] == [
        401,
        401,
        401,
        401,
        401,
        429,
    ]
    assert _signin_from(both_inbox, "10.0.0.7", "mash_north", PASSWORD) == 303


def test_guessing_from_many_addresses_slows_the_account_and_an_admin_clears_it(
    inbox: Inbox,
) -> None:
    guesses = [_signin_from(inbox, f"10.1.0.{i}", "mash_north", "x") for i in range(20)]
    assert guesses == [401] * 20
    # Twenty failures from anywhere: one try a minute, the owner's too, for now.
    assert _signin_from(inbox, "10.0.0.7", "mash_north", PASSWORD) == 429
    _age(inbox, 2)
    assert _signin_from(inbox, "10.0.0.7", "mash_north", PASSWORD) == 303
    # Guessed again; an admin clears the account and its owner is straight back in.
    assert [_signin_from(inbox, f"10.2.0.{i}", "mash_north", "x") for i in range(20)] == [401] * 20
    assert _signin_from(inbox, "10.0.0.7", "mash_north", PASSWORD) == 429
    throttle.unlock(inbox.engine, "Mash_North", dt.datetime.now(dt.UTC))
    assert _signin_from(inbox, "10.0.0.7", "mash_north", PASSWORD) == 303


def test_an_office_signing_in_at_once_behind_one_address_is_not_held(inbox: Inbox) -> None:
    """Thirty people at nine behind the council's one address: in-flight checks are not
    failures of that address."""
    from conftest import _hash

    with inbox.engine.begin() as conn:
        for i in range(30):
            conn.execute(
                sa.insert(USERS).values(
                    username=f"worker{i}",
                    display_name=f"worker{i}",
                    password_hash=_hash(),
                    role="professional",
                    created_at=dt.datetime(2026, 11, 3),
                )
            )
    with ThreadPoolExecutor(30) as pool:
        answers = list(
            pool.map(lambda i: _signin_from(inbox, "10.9.9.9", f"worker{i}", PASSWORD), range(30))
        )
    assert answers == [303] * 30
