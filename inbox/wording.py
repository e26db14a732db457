"""What an alert's page and list say in words a duty professional reads: which trigger
fired and from what, what the score means, and what each state (above all "held") means.

The words are made from what the store records on each alert (`alerts.store.ALERTS`):
its triggers, tonight's band and score, the person's last band, score and night before
it, and the share of the night's persons scored lower. An alert stored before those last
columns existed has them empty, and its words say only what is known.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BANDS = {"low": "low", "medium": "medium", "high": "high", "very_high": "very high"}

# What each state means to the person reading it. `held` is the one people asked about:
# alerts.run stores an alert held when its team's nightly capacity is full.
STATES = {
    "held": (
        "not sent yet. More alerts came to this team that night than it takes in a night, "
        "so no message has told anyone of this one; it goes out in a later night's message "
        "as room frees, strongest first. It can be acted on here now"
    ),
    "pending": "a message about it is waiting to be sent, or is being tried again",
    "delivered": "a message about it was sent; nobody has taken ownership yet",
    "acknowledged": "someone has taken ownership of it",
    "forwarded": "forwarded to a colleague, who has not taken ownership yet",
    "snoozed": "put aside until a date, with a reason",
    "closed": "closed, with its outcome recorded",
}

KINDS = {
    "new_high": "New",
    "rise": "Rise",
    "indicator": "Indicator",
    "step_down": "Step-down",
}


@dataclass(frozen=True)
class Outcome:
    """What the risk model's score is the chance of: risk.yaml's `outcome:` section."""

    horizon_days: int = 182
    types: tuple[str, ...] = ("child_protection_plan", "safeguarding_enquiry", "serious_incident")

    def words(self) -> str:
        """The events counted, as a list a person reads ("a, b or c")."""
        names = [t.replace("_", " ") for t in self.types]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"a serious event (a {listed})"

    def period(self) -> str:
        """The horizon in words: "182 days (about 6 months)"."""
        months = round(self.horizon_days / 30.44)
        if months < 2:
            return f"{self.horizon_days} days"
        return f"{self.horizon_days} days (about {months} months)"


def band(name: str | None) -> str:
    """A band as a person reads it ("very high")."""
    return BANDS.get(name or "", (name or "").replace("_", " "))


def day(when: dt.date | None) -> str:
    """A night as "12 Nov 2026"."""
    return "" if when is None else f"{when.day} {when:%b %Y}"


def _since(alert: Mapping[str, Any]) -> str:
    night = alert.get("previous_night")
    return f" since {day(night)}" if night else ""


def _recorded(alert: Mapping[str, Any]) -> bool:
    """Whether the alert was stored with its history (NULL on alerts from before issue 21)."""
    return alert.get("share_below") is not None


def _scores(alert: Mapping[str, Any]) -> str:
    before = alert.get("previous_score")
    if before is None:
        return ""
    return f" (score {before:.2f} to {alert['score']:.2f})"


def trigger_line(kind: str, rule: str, alert: Mapping[str, Any], pack: Mapping[str, Any]) -> str:
    """One trigger of an alert in words, e.g. "New: risk rose from medium to high since 12 Nov
    2026 (score 0.12 to 0.21)."."""
    now, before = band(alert["band"]), alert.get("previous_band")
    since = _since(alert)
    if kind in ("new_high", "rise"):
        head = KINDS[kind]
        if before and before != alert["band"]:
            return f"{head}: risk rose from {band(before)} to {now}{since}{_scores(alert)}."
        if before:  # the same band: the score passed the configured minimum
            return f"{head}: the score rose{since}{_scores(alert)}, past the alerting score."
        if _recorded(alert):
            return f"{head}: scored for the first time on {day(alert['night'])}, at {now} risk."
        return f"{head}: risk is now {now} (what it was before is not recorded on this alert)."
    if kind == "step_down":
        fell = (
            f"risk fell from {band(before)} to {now}{since}{_scores(alert)}"
            if before
            else f"risk fell, to {now} now"
        )
        return (
            f"Step-down: {fell}. For review: close the alert if the concern has passed, "
            "or record why it stays."
        )
    if kind == "indicator":
        texts = {
            i.get("rule"): i.get("text")
            for i in pack.get("indicators") or []
            if isinstance(i, Mapping)
        }
        what = texts.get(rule) or (rule or "a rule").replace("_", " ")
        return (
            f"Indicator: {what}. A rule beside the model fired, which had not at the last "
            f"score{since}."
        )
    return f"{kind.replace('_', ' ').capitalize()}."


def trigger_lines(alert: Mapping[str, Any], pack: Mapping[str, Any]) -> list[str]:
    """Every trigger an alert answers for, strongest first, each in words."""
    triggers = json.loads(alert.get("triggers_json") or "[]") or [{"kind": alert["kind"]}]
    return [trigger_line(t["kind"], t.get("rule", ""), alert, pack) for t in triggers]


def share_words(share: float) -> str:
    """A share as a percentage that never overstates it: 0.996 is "99.6%", 0.978 "97%"."""
    if share >= 0.99:
        return f"{math.floor(share * 1000) / 10:.1f}%"
    return f"{math.floor(share * 100)}%"


def score_lines(alert: Mapping[str, Any], outcome: Outcome) -> list[str]:
    """What the score means: its band, its place among the night's scores, and the chance it
    stands for (the models' scores are calibrated probabilities: docs/risk.md)."""
    score = float(alert["score"])
    lines = [f"Band {band(alert['band'])}, score {score:.2f} on a scale of 0 to 1."]
    share = alert.get("share_below")
    if share is not None:
        lines.append(
            f"Scored higher than {share_words(share)} of the people scored on "
            f"{day(alert['night'])}."
        )
    in_100 = round(score * 100)
    chance = "fewer than 1" if in_100 < 1 else f"about {in_100}"
    lines.append(
        f"Of people given a score like this, {chance} in 100 had {outcome.words()} within "
        f"{outcome.period()}, when the model was checked against past records. It is a "
        "chance across people like this one, not a finding about this person."
    )
    return lines
