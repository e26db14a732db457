"""Routing: who hears of an alert, by a tree of routes as in Prometheus Alertmanager.

Every alert enters at the root route. Each child route whose matchers all match is
entered in turn, depth first; the first matching child ends the search among its
siblings unless it says `continue: true`. The deepest routes matched are the alert's
destinations; if no child matches, the route itself is. A route that sets no `receiver`
or `lead` takes its parent's.

At a destination, the alert goes to the lead professional for the route's `lead`
agency (from the person's current involvements) when that professional has a work email
this config can reach; otherwise to the route's `receiver` team, where `area_duty` means
the duty team for the person's postcode district. Each destination is also charged to a
team (the receiver) for capacity and escalation. One person is never sent one trigger
twice by two routes that end at the same recipient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.config import AREA_DUTY, AlertsConfig, Route, route_label
from alerts.matchers import Labels, Matcher, matches_all

PROFESSIONAL = "professional"
TEAM = "team"


@dataclass(frozen=True)
class Destination:
    """Where one alert goes."""

    rule: str  # the route's name (`default` for the root; its path in the file if unnamed)
    recipient: str  # a professional's email or a team's id
    recipient_kind: str  # professional | team
    team: str  # the team charged: capacity, escalation
    lead: dict[str, Any] | None = field(default=None, compare=False)  # the lead professional


@dataclass(frozen=True)
class _Node:
    name: str
    matchers: tuple[Matcher, ...]
    receiver: str
    lead: str | None
    continue_: bool
    children: tuple[_Node, ...]


def _build(route: Route, where: str, receiver: str, lead: str | None) -> _Node:
    receiver = route.receiver or receiver
    lead = route.lead if route.lead is not None else lead
    return _Node(
        name=route_label(route, where),
        matchers=route.parsed(),
        receiver=receiver,
        lead=lead,
        continue_=route.continue_,
        children=tuple(
            _build(child, f"{where}.routes[{i}]", receiver, lead)
            for i, child in enumerate(route.routes)
        ),
    )


class Router:
    """The config's routing tree, ready to route alerts."""

    def __init__(self, config: AlertsConfig) -> None:
        self.config = config
        assert config.route.receiver is not None  # load_config makes sure
        self.root = _build(config.route, "route", config.route.receiver, config.route.lead)

    def _matched(self, node: _Node, labels: Labels) -> list[_Node]:
        found: list[_Node] = []
        for child in node.children:
            if matches_all(child.matchers, labels):
                found.extend(self._matched(child, labels))
                if not child.continue_:
                    break
        return found or [node]

    def route(
        self, labels: Labels, district: str | None, leads: dict[str, dict[str, Any]]
    ) -> list[Destination]:
        """The destinations of an alert with these labels.

        Args:
            labels: the alert's labels (`matchers.LABELS`).
            district: the person's postcode district, for `area_duty`.
            leads: agency -> the person's lead professional there (`people.leads`).
        """
        out: list[Destination] = []
        seen: set[str] = set()
        for node in self._matched(self.root, labels):
            team = self.config.duty_team(district) if node.receiver == AREA_DUTY else node.receiver
            lead = leads.get(node.lead) if node.lead else None
            if lead is not None and self.config.professionals.reachable(lead["email"]):
                dest = Destination(node.name, str(lead["email"]).lower(), PROFESSIONAL, team, lead)
            else:
                dest = Destination(node.name, team, TEAM, team, lead)
            if dest.recipient not in seen:
                seen.add(dest.recipient)
                out.append(dest)
        return out
