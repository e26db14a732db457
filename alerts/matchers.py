"""Matchers on an alert's labels, written as Prometheus Alertmanager writes them.

`label=value`, `label!=value`, `label=~regex` and `label!~regex`; a value may be quoted.
A regex must match the whole value, as in Alertmanager. Some labels hold several values
(the agencies involved with a person, the indicators that fired): `=` and `=~` match when
any value does, `!=` and `!~` when none does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What an alert is labelled with, for routes and silences (docs/alerts.md).
LABELS: dict[str, str] = {
    "kind": "new_high, rise, step_down or indicator",
    "band": "the risk band tonight: low, medium, high or very_high",
    "rule": "the indicator rule an indicator alert is for (empty for other kinds)",
    "agency": "each agency with a current involvement (a professional working with them)",
    "known_to": "each agency holding a current record of the person",
    "area": "the postcode district of the person's address, e.g. JU7",
    "age_band": "0-4, 5-10, 11-15, 16-17, 18-24, 25-64, 65+ or unknown",
    "age_group": "child (under 18), adult or unknown",
    "person_id": "the person's stable id (for silences)",
}
MULTI = frozenset({"agency", "known_to"})
Labels = dict[str, str | frozenset[str]]

_FORM = re.compile(r"^\s*([a-z_]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    """One condition on one label."""

    label: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: Labels) -> bool:
        """Whether the labels satisfy this matcher; a missing label is an empty value."""
        got = labels.get(self.label, "")
        values = got if isinstance(got, frozenset) else frozenset({got})
        if self.op in ("=", "!="):
            hit = self.value in values if values else self.value == ""
            return hit if self.op == "=" else not hit
        assert self.pattern is not None
        pattern = self.pattern
        hit = any(pattern.fullmatch(v) for v in values) if values else bool(pattern.fullmatch(""))
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.label}{self.op}{self.value!r}"


def parse_matcher(text: str) -> Matcher:
    """Parse `label<op>value`; raises ValueError saying what is wrong and what is expected."""
    found = _FORM.match(text)
    if not found:
        raise ValueError(
            f"matcher {text!r} is not label=value, label!=value, label=~regex or label!~regex"
        )
    label, op, value = found.groups()
    if label not in LABELS:
        raise ValueError(f"matcher {text!r}: no label {label!r}; labels: {', '.join(LABELS)}")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"matcher {text!r}: not a regular expression: {exc}") from exc
    return Matcher(label, op, value, pattern)


def matches_all(matchers: tuple[Matcher, ...], labels: Labels) -> bool:
    """Whether every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
