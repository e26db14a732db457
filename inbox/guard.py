"""What every response carries and every request may not exceed, before any route runs.

- `SecurityHeaders`: a content security policy that allows the inbox's own stylesheet
  (by its hash) and nothing else (no script, no frame, no other origin, forms only to
  this site), `frame-ancestors 'none'` (no other site may frame an alert page), nosniff,
  no referrer, and `Cache-Control: no-store` (pages show personal data: no browser or
  proxy may keep them).
- `BodyLimit`: a request body larger than its route allows is refused with 413 before it
  is parsed, read from its declared length or counted as it streams in, so no request,
  signed in or not, makes the server hold more than the limit in memory.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

from inbox.actions import CALLER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SIGN_IN_BYTES = 8 * 1024  # a username, a password, a token and a path
FORM_BYTES = 64 * 1024  # the longest form: a note or a closing summary


def style_hash(template: Path) -> str:
    """The CSP source for the one inline stylesheet of a template: 'sha256-...'."""
    text = template.read_text(encoding="utf-8")
    css = text.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return f"'sha256-{digest}'"


def policy(style: str) -> str:
    """The inbox's content security policy."""
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src {style}",
            "img-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class SecurityHeaders:
    """Add the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cache-control", b"no-store"),
        ]
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k not in self.names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)


class _TooLarge(BaseException):
    # Not an Exception: FastAPI turns any Exception met while parsing a form into 400, and
    # this must reach BodyLimit to be answered 413.
    pass


class BodyLimit:
    """Refuse a body over its route's limit with 413, before the route reads any of it."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = f"Request too large: this page takes at most {limit:,} bytes.\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def limit_for(path: str) -> int:
    """The body a route may be sent: sign-in forms are small, other forms a note's size."""
    return SIGN_IN_BYTES if path in ("/signin", "/signout") else FORM_BYTES


class Caller:
    """Note each request's client address and a hash of its session cookie, for the audit."""

    def __init__(self, app: ASGIApp, cookie: str) -> None:
        self.app = app
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("", 0)
        raw = dict(scope.get("headers", [])).get(b"cookie", b"").decode("latin-1")
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except Exception:  # a malformed cookie header: no session to name
            jar = SimpleCookie()
        value = jar[self.cookie].value if self.cookie in jar else ""
        tag = hashlib.sha256(value.encode()).hexdigest()[:16] if value else ""
        token = CALLER.set((str(client[0]), tag))
        try:
            await self.app(scope, receive, send)
        finally:
            CALLER.reset(token)
