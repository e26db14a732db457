"""Real servers for the tests, started on loopback: PostgreSQL from Debian's packages, an
SMTP server (aiosmtpd) that keeps what it takes; an OpenID Connect provider
(django-oauth-toolkit); and how Debian's Chromium is started
headless (the browser tests and scripts/inbox-screenshots.py)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

# Headless, and nothing fetched from the network behind the page's back.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A TCP port nobody is listening on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pg_bin() -> str | None:
    """The folder holding initdb and pg_ctl, newest version first, if PostgreSQL is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return os.path.dirname(found[0]) if found else None


@contextmanager
def postgres() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster; yield its SQLAlchemy URL; remove it afterwards.

    initdb refuses to run as root, so as root the cluster belongs to the postgres user, in
    a folder of its own outside any root-only folder.
    """
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: run scripts/install-test-servers")
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = tempfile.mkdtemp(prefix="jpg")
    data, sock = os.path.join(base, "d"), os.path.join(base, "s")
    os.makedirs(sock)
    os.chmod(base, 0o755)
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, text=True)

    try:
        run(
            f"{bindir}/initdb",
            "-D",
            data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
        run(
            f"{bindir}/pg_ctl",
            "-D",
            data,
            "-o",
            opts,
            "-w",
            "-l",
            os.path.join(base, "log"),
            "start",
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Mail:
    """One message the SMTP server took."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        """Subject and body, decoded."""
        body = self.message.get_body(("plain",))
        assert body is not None
        return f"{self.message['Subject']}\n{body.get_content()}"


@dataclass
class SmtpSink:
    """Every message the server took, in order."""

    port: int
    mails: list[Mail] = field(default_factory=list)
    delay: float = 0.0  # seconds the relay takes over each message, as a slow one would

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[Mail]:
        """Messages for one address."""
        return [m for m in self.mails if address in m.recipients]


@contextmanager
def smtp_server() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1, keeping every message."""
    sink = SmtpSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class OidcProvider:
    """A running OpenID Connect provider (django-oauth-toolkit) and how to add to it."""

    issuer: str
    client_id: str
    client_secret: str
    env: dict[str, str]

    def person(self, username: str, password: str, email: str) -> None:
        """Give someone a council account at the provider."""
        self._manage("person", username, password, email)

    def rename(self, old: str, new: str) -> None:
        """Give an account at the provider a new name (its subject stays the same)."""
        self._manage("rename", old, new)

    def _manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "oidcprovider.manage", *args],
            env=self.env,
            check=True,
            capture_output=True,
        )


@contextmanager
def oidc_provider(redirect_uri: str) -> Iterator[OidcProvider]:
    """Start the test OpenID Connect provider on `localhost` (the inbox is on 127.0.0.1,
    so each keeps its own cookies) with one confidential client whose callback is
    `redirect_uri`; yield it; stop it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="joinedup-oidc-") as folder:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key_file = os.path.join(folder, "key.pem")
        with open(key_file, "wb") as f:
            f.write(pem)
        env = {
            **os.environ,
            "PYTHONPATH": os.path.dirname(__file__),
            "DJANGO_SETTINGS_MODULE": "oidcprovider.settings",
            "OIDC_TEST_DJANGO_SECRET": secrets.token_urlsafe(32),
            "OIDC_TEST_DB": os.path.join(folder, "provider.sqlite"),
            "OIDC_TEST_KEY": key_file,
            "OIDC_TEST_ISSUER": f"http://localhost:{port}/o",
        }
        django = [sys.executable, "-m", "django"]
        subprocess.run([*django, "migrate", "-v", "0"], env=env, check=True, capture_output=True)
        provider = OidcProvider(
            env["OIDC_TEST_ISSUER"], "joinedup-inbox", secrets.token_urlsafe(24), env
        )
        provider._manage("client", provider.client_id, provider.client_secret, redirect_uri)
        server = subprocess.Popen(
            [*django, "runserver", f"localhost:{port}", "--noreload"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("localhost", port), timeout=1):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        err = server.stderr.read().decode() if server.stderr else ""
                        raise RuntimeError(
                            f"the OIDC provider did not start: {err[-2000:]}"
                        ) from None
                    time.sleep(0.1)
            yield provider
        finally:
            server.terminate()
            server.wait(timeout=10)


@contextmanager
def uvicorn_on_loopback(app: Any, port: int) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1:`port`; yield its origin."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
