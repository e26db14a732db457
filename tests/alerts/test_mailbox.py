"""The demo's local mailbox: a real SMTP server on loopback that files what it takes."""

from __future__ import annotations

from pathlib import Path

import apprise

from alerts.mailbox import LocalMailbox


def test_the_local_mailbox_files_each_message_it_takes(tmp_path: Path) -> None:
    with LocalMailbox(tmp_path / "mailbox") as box:
        notifier = apprise.Apprise()
        url = f"{box.url}?from=alerts@joinedup.council.example&to=duty@council.example"
        assert notifier.add(url, tag="box")
        assert bool(notifier.notify(title="joinedup: 1 alert", body="ABC", tag="box"))
        (message,) = box.messages()
    assert message["To"] == "duty@council.example"
    assert message["Subject"] == "joinedup: 1 alert"
    assert len(list((tmp_path / "mailbox" / "new").iterdir())) == 1
