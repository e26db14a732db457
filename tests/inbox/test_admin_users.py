"""An admin's accounts page (issue 19): a joiner with a first password shown once, a mover
whose sessions end, a leaver who can no longer sign in, sessions ended on request; every
change audited with the admin's name."""

from __future__ import annotations

import re

import sqlalchemy as sa
from conftest import PASSWORD, Inbox, csrf_of
from fastapi.testclient import TestClient

from inbox.auditchain import verify
from inbox.tables import AUDIT_LOG


def _post(admin: TestClient, path: str, **form: str) -> int:
    form["csrf"] = csrf_of(admin, "/admin/users")
    return admin.post(path, data=form, follow_redirects=False).status_code


def _try(inbox: Inbox, username: str, password: str) -> int:
    client = inbox.client("")
    token = csrf_of(client, "/signin")
    return client.post(
        "/signin",
        data={"username": username, "password": password, "csrf": token},
        follow_redirects=False,
    ).status_code


def test_joiner_mover_leaver(inbox: Inbox) -> None:
    admin = inbox.client("admin")
    page = admin.post(
        "/admin/users",
        data={
            "csrf": csrf_of(admin, "/admin/users"),
            "username": "Jo.Iner",
            "role": "professional",
            "team": "mash_north",
            "email": "",
        },
    )
    assert page.status_code == 200
    found = re.search(r'<strong id="first-password">([^<]+)</strong>', page.text)
    assert found is not None
    assert "first-password" not in admin.get("/admin/users").text  # shown once
    assert _try(inbox, "jo.iner", found.group(1)) == 303
    assert _post(admin, "/admin/users", username="jo.iner", role="professional") == 422

    # A mover: their open session ends at once, and they come back with the new role.
    mover = inbox.client("mash_north")
    assert mover.get("/audit", follow_redirects=False).status_code == 403
    assert _post(admin, "/admin/users/mash_north/move", role="duty_manager", team="") == 303
    assert mover.get("/alerts", follow_redirects=False).status_code == 303  # signed out
    assert inbox.client("mash_north").get("/audit", follow_redirects=False).status_code == 200

    # A leaver: signed out everywhere, and their password opens nothing.
    leaver = inbox.client("pat.reid@police.example")
    assert _post(admin, "/admin/users/pat.reid@police.example/leave") == 303
    assert leaver.get("/alerts", follow_redirects=False).status_code == 303
    assert _try(inbox, "pat.reid@police.example", PASSWORD) == 401
    assert "(left " in admin.get("/admin/users").text

    # Sessions ended on request (a lost laptop): the account stays, the session goes.
    lost = inbox.client("duty_manager")
    assert _post(admin, "/admin/users/duty_manager/revoke") == 303
    assert lost.get("/alerts", follow_redirects=False).status_code == 303
    assert _try(inbox, "duty_manager", PASSWORD) == 303

    # An admin cannot close their own account, nor change their own role.
    assert _post(admin, "/admin/users/admin/leave") == 422
    assert _post(admin, "/admin/users/admin/move", role="analyst") == 422

    with inbox.engine.connect() as conn:
        done = conn.execute(
            sa.select(AUDIT_LOG.c.actor, AUDIT_LOG.c.action, AUDIT_LOG.c.detail).where(
                AUDIT_LOG.c.action.in_(
                    ["account_created", "user_moved", "user_left", "sessions_revoked"]
                ),
                AUDIT_LOG.c.actor == "admin",
            )
        ).all()
    assert [(a, d.split(":")[0].split(";")[0].split(" ")[0]) for _, a, d in done] == [
        ("account_created", "jo.iner"),
        ("user_moved", "mash_north"),
        ("user_left", "pat.reid@police.example"),
        ("sessions_revoked", "duty_manager"),
    ]
    assert verify(inbox.engine).broken is None
