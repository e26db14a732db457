"""Splink's log while a model trains: the "level not observed" warnings counted, not shown.

An EM session that sees no pair at some level of a comparison warns of it, once a level
a session: a dozen comparisons over four sessions make dozens of lines on the analyst's
terminal that say little one by one. `levels_unseen` keeps them as counts, by comparison,
for the run's summary; every other message of Splink's goes where it went before.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

UNSEEN = re.compile(
    r"Level (.+) on comparison (\S+) not observed in dataset, unable to train [mu] value"
)


class Unseen(logging.Handler):
    """Splink's "level not observed" warnings kept as counts; any other message passed on."""

    def __init__(self, onward: list[logging.Handler], propagate: bool) -> None:
        super().__init__(logging.WARNING)
        self.onward, self.propagate = onward, propagate
        self.levels: dict[str, set[str]] = {}
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        found = UNSEEN.search(record.getMessage())
        if found:
            self.warnings += 1
            self.levels.setdefault(found.group(2), set()).add(found.group(1))
            return
        for handler in self.onward:
            if record.levelno >= handler.level:
                handler.handle(record)
        if self.propagate and not self.onward:
            logging.getLogger().handle(record)


@contextmanager
def levels_unseen() -> Iterator[Unseen]:
    """While training: Splink's warnings of levels an EM session saw no pair at, counted."""
    splink = logging.getLogger("splink")
    saved, propagate = list(splink.handlers), splink.propagate
    counter = Unseen(saved, propagate)
    splink.handlers, splink.propagate = [counter], False
    try:
        yield counter
    finally:
        splink.handlers, splink.propagate = saved, propagate
