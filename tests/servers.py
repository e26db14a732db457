"""Real servers for the tests, started on loopback: PostgreSQL from Debian's packages, an
SMTP server (aiosmtpd) that keeps what it takes; and how Debian's Chromium is started
headless (the browser tests and scripts/inbox-screenshots.py)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import glob
import os
import shutil
import socket
import subprocess
import tempfile
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
