"""Single sign-on through the council's OpenID Connect provider.

Authlib does the protocol: discovery, the authorisation code flow with PKCE, and the
ID token's checks (signature against the provider's keys, issuer, audience, expiry and
the nonce sent). What is the inbox's own is which account a signed-in person opens:

- the account must already exist (an admin made it, with its role and team) and not be
  a leaver's; the provider never creates accounts or gives roles;
- the claim `username_claim` names it, and the first sign-in binds it to the provider's
  subject (`sub`); after that only that subject opens it, so a name the provider hands to
  someone new later (a reused email address) does not open the leaver's account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from sqlalchemy.engine import Engine

from alerts.config import SingleSignOn
from inbox.tables import USERS
from inbox.users import User

CALLBACK = "/signin/oidc/callback"
# Starlette's session cookie holds only the flow's state, nonce and PKCE verifier, for
# the minutes between leaving for the provider and coming back.
FLOW_COOKIE = "joinedup_sso"
FLOW_SECONDS = 600


class SignOnRefused(Exception):
    """The provider vouched for someone (or failed to) but no account opens for them.

    `reason` goes to the audit log; `message` is what the person is shown.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


def provider(settings: SingleSignOn) -> StarletteOAuth2App:
    """Authlib's client for the configured provider; the secret comes from the environment.

    Raises:
        ValueError: the environment variable the settings name for the secret is not set.
    """
    secret = os.environ.get(settings.client_secret_env, "")
    if not secret:
        raise ValueError(
            f"single sign-on needs the client secret in {settings.client_secret_env}: set "
            "it, or remove sign_in from alerts.yaml"
        )
    oauth = OAuth()
    client = oauth.register(
        "council",
        client_id=settings.client_id,
        client_secret=secret,
        server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    assert isinstance(client, StarletteOAuth2App)
    return client


def callback_url(inbox_url: str) -> str:
    """Where the provider sends people back: the inbox's own origin, as configured.

    Built from `inbox_url` rather than the request, so a proxy in front cannot change it;
    it is the address registered with the provider.
    """
    parts = urlsplit(inbox_url)
    return f"{parts.scheme}://{parts.netloc}{CALLBACK}"


def account(engine: Engine, settings: SingleSignOn, claims: Mapping[str, Any]) -> User:
    """The account the ID token's claims open, binding its subject at first sign-in.

    Raises:
        SignOnRefused: no such account, a leaver's, or one bound to another subject.
    """
    subject = str(claims.get("sub") or "")
    name = str(claims.get(settings.username_claim) or "").strip().lower()
    if not subject or not name:
        raise SignOnRefused(
            f"sso: no {settings.username_claim}",
            "Your council account did not say who you are: ask the inbox's admin.",
        )
    with engine.begin() as conn:
        row = conn.execute(sa.select(USERS).where(USERS.c.username == name)).first()
        if row is None or row.left_at is not None:
            raise SignOnRefused(
                f"sso: no open account {name[:300]}",
                "You have no inbox account: ask the inbox's admin to add you.",
            )
        if row.oidc_subject is None:
            bound = conn.execute(
                sa.update(USERS)
                .where(USERS.c.id == row.id, USERS.c.oidc_subject.is_(None))
                .values(oidc_subject=subject)
            ).rowcount
            if bound:
                return User.from_row(row)
            row = conn.execute(sa.select(USERS).where(USERS.c.id == row.id)).one()
        if row.oidc_subject != subject:
            raise SignOnRefused(
                f"sso: {name[:300]} is bound to another subject",
                "This inbox account belongs to someone else's council account: ask the "
                "inbox's admin.",
            )
    return User.from_row(row)
