"""A local mailbox: an SMTP server on 127.0.0.1 that files each message in a Maildir.

For the demo and for trying the alerts on one machine: point `JOINEDUP_SMTP_URL` at
`LocalMailbox.url` and read the messages in the folder with any mail reader (or
`messages()`). It accepts mail for anyone and sends nothing on.
"""

from __future__ import annotations

import email
import mailbox
import socket
from email.message import Message
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalMailbox:
    """An SMTP server on loopback for as long as the `with` block lasts.

    Examples:
        >>> with LocalMailbox(Path("data/mailbox")) as box:  # doctest: +SKIP
        ...     os.environ["JOINEDUP_SMTP_URL"] = box.url
    """

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or _free_port()
        folder.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(str(folder), create=True).close()
        self._controller = Controller(
            Mailbox(folder), hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True
        )

    @property
    def url(self) -> str:
        """The server as an Apprise URL with no query: add `?from=...&to=...`."""
        return f"mailto://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalMailbox:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()

    def messages(self) -> list[Message]:
        """Every message filed so far, oldest first by file name."""
        box = mailbox.Maildir(str(self.folder), create=False)
        try:
            return [email.message_from_bytes(box.get_bytes(k)) for k in sorted(box.keys())]
        finally:
            box.close()
