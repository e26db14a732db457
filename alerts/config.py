"""The alerts config (`pipelines/config/alerts.yaml`): selection, teams, targets, routes.

`load_config` reads the file, puts `${VARIABLE}` secrets in from the environment, and
checks everything before any alert is made: every team a route, an area or an escalation
names exists, every target is a URL Apprise can send to, every matcher parses. An error
names the file, the key and what was expected; nothing is selected or sent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

import apprise
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.matchers import Matcher, parse_matcher

# Re-exported: one error for every config.
from common.config import ConfigError as ConfigError  # noqa: PLC0414
from common.config import load_settings

AREA_DUTY = "area_duty"  # the receiver meaning: the duty team for the person's area
Band = Literal["low", "medium", "high", "very_high"]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SAMPLE_EMAIL = "someone@example.org"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_target(url: str) -> str:
    if apprise.Apprise.instantiate(url.replace("{email}", SAMPLE_EMAIL)) is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:12]
        raise ValueError(
            f"not a URL Apprise can send to (it begins {scheme!r}); expected e.g. "
            "mailto://host:port?from=...&to=..., json://host:port/path, msteams://..., "
            "slack://..."
        )
    return url


Target = Annotated[str, Field(min_length=1)]


class Team(_Strict):
    """A team: where its alerts go, how many a night it can take, who it escalates to."""

    name: str = Field(description="the team's name, as people know it")
    agency: str | None = Field(None, description="the agency the team belongs to")
    targets: dict[Name, Target] = Field(
        default_factory=dict, description="named Apprise URLs: email, Teams, Slack, webhook"
    )
    capacity: int | None = Field(
        None, ge=1, description="alerts a night the team can take; more are held for later"
    )
    districts: list[str] = Field(
        default_factory=list, description="postcode districts it is the duty team for"
    )
    escalate_to: str | None = Field(
        None, description="team told of alerts not acknowledged in time (else escalation.to)"
    )

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: dict[str, str]) -> dict[str, str]:
        for url in value.values():
            _check_target(url)
        return value

    @field_validator("districts")
    @classmethod
    def _districts(cls, value: list[str]) -> list[str]:
        return [d.strip().upper() for d in value]


class Professionals(_Strict):
    """How a lead professional is reached: their work email in a target template."""

    domains: list[str] = Field(
        default_factory=list,
        description="email domains professionals may be reached at (a domain or a subdomain)",
    )
    targets: dict[Name, Target] = Field(
        default_factory=dict, description="Apprise URLs with {email} for the professional's email"
    )
    overrides: dict[str, dict[Name, Target]] = Field(
        default_factory=dict, description="a professional's own targets, by email"
    )

    @field_validator("targets")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for url in value.values():
            if "{email}" not in url:
                raise ValueError(f"a professional's target needs {{email}} in it: {url[:12]}...")
            _check_target(url)
        return value

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for targets in value.values():
            for url in targets.values():
                _check_target(url)
        return {k.lower(): v for k, v in value.items()}

    def reachable(self, email: str | None) -> bool:
        """Whether an email is a work address this config can send to."""
        if not email or not _EMAIL.match(email):
            return False
        domain = email.rsplit("@", 1)[1].lower()
        if email.lower() in self.overrides:
            return True
        return any(domain == d or domain.endswith("." + d) for d in self.domains)

    def targets_for(self, email: str) -> dict[str, str]:
        """The professional's targets, their email put in (quoted, so it adds no recipient)."""
        own = self.overrides.get(email.lower())
        if own is not None:
            return dict(own)
        if not self.reachable(email):
            return {}
        safe = quote(email, safe="@")
        return {name: url.replace("{email}", safe) for name, url in self.targets.items()}


class Route(_Strict):
    """A node of the routing tree, as in Alertmanager: matchers, a receiver, child routes."""

    name: str | None = Field(None, description="recorded on each alert it routes")
    matchers: list[str] = Field(default_factory=list, description="label=value, label=~regex...")
    lead: str | None = Field(
        None, description="agency whose lead professional gets the alert, if one is reachable"
    )
    receiver: str | None = Field(
        None, description=f"team that gets it otherwise; {AREA_DUTY}: the area's duty team"
    )
    continue_: bool = Field(
        False, alias="continue", description="after matching, try the next sibling route too"
    )
    routes: list[Route] = Field(default_factory=list)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_matcher(text)
        return value

    def parsed(self) -> tuple[Matcher, ...]:
        """The matchers, parsed."""
        return tuple(parse_matcher(t) for t in self.matchers)


def route_label(node: Route, where: str) -> str:
    """A route's name: its own, `default` for an unnamed root, else its place in the file."""
    return node.name or ("default" if where == "route" else where)


def _high_bands() -> list[Band]:
    return ["high", "very_high"]


class RiseSelection(_Strict):
    bands: list[Band] = Field(
        default_factory=_high_bands,
        description="a marked rise alerts when tonight's band is one of these",
    )


class StepDownSelection(_Strict):
    enabled: bool = True
    only_if_alerted_within_days: int | None = Field(
        180, ge=1, description="only for persons alerted this recently (None: anyone)"
    )


class IndicatorSelection(_Strict):
    enabled: bool = True
    rules: list[str] = Field(default_factory=list, description="rules that alert; empty: all")


class Selection(_Strict):
    """Which scores become alerts."""

    bands: list[Band] = Field(
        default_factory=_high_bands,
        description="entering one of these bands alerts (new_high)",
    )
    min_score: float | None = Field(
        None, gt=0.0, lt=1.0, description="reaching this score alerts too, whatever the band"
    )
    rise: RiseSelection = Field(default_factory=RiseSelection)
    step_down: StepDownSelection = Field(default_factory=StepDownSelection)
    indicators: IndicatorSelection = Field(default_factory=IndicatorSelection)
    cool_down_days: int = Field(
        14, ge=0, description="no second alert of a kind for a person and route within this"
    )
    dedup_period_days: int = Field(
        28, ge=1, description="the period in a dedup key (person, reason, period, route)"
    )


class Escalation(_Strict):
    after_hours: float = Field(24.0, gt=0, description="unacknowledged this long: escalate")
    to: str = Field(description="the duty manager's team")
    max_snooze_days: int = Field(
        28, ge=1, le=366, description="a snooze ends at most this many days after it is given"
    )


class Delivery(_Strict):
    backoff_minutes: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 480.0],
        min_length=1,
        description="wait before each retry of a failed send; after the last, give up and report",
    )
    workers: int = Field(8, ge=1, le=64, description="sends in flight at once")
    lease_minutes: float = Field(
        10.0,
        gt=0,
        description=(
            "how long a pass may hold a send it has claimed; after this another pass may take"
            " it over (longer than any one send takes, timeouts included)"
        ),
    )


class CasePack(_Strict):
    events_days: int = Field(365, ge=1, description="recent events: this many days back")
    max_events: int = Field(25, ge=1, description="at most this many recent events")


class SingleSignOn(_Strict):
    """Sign-in to the inbox through the council's identity provider (OpenID Connect).

    An account is still made by an admin (its role and team are the inbox's to give); the
    provider vouches for who is signing in, and the claim named by `username_claim` picks
    the account. The first sign-in binds the account to the provider's subject, so a name
    the provider later gives to someone else does not open it.
    """

    issuer: str = Field(
        description="the provider's issuer URL; its metadata is read from "
        "{issuer}/.well-known/openid-configuration"
    )
    client_id: str = Field(min_length=1, description="the inbox's client id at the provider")
    client_secret_env: str = Field(
        "JOINEDUP_OIDC_SECRET",
        description="the environment variable holding the client secret (never in this file)",
    )
    username_claim: str = Field(
        "preferred_username", description="the ID token's claim that names the account"
    )
    label: str = Field(
        "Sign in with your council account", description="the sign-in button's words"
    )
    passwords: bool = Field(
        True,
        description="whether inbox passwords still open accounts; false: the provider only",
    )

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected the provider's http(s) issuer URL")
        return value.rstrip("/")


class AlertsConfig(_Strict):
    """The whole alerts config."""

    inbox_url: str = Field(description="link to an alert; {reference} is put in")
    agencies: list[Name] = Field(min_length=1, description="the partner agencies, by source name")
    selection: Selection = Field(default_factory=Selection)
    teams: dict[Name, Team] = Field(min_length=1)
    default_duty_team: str = Field(description="duty team for a person with no known area")
    professionals: Professionals = Field(default_factory=Professionals)
    route: Route
    escalation: Escalation
    delivery: Delivery = Field(default_factory=Delivery)
    case_pack: CasePack = Field(default_factory=CasePack)
    sign_in: SingleSignOn | None = Field(
        None, description="single sign-on for the inbox; absent: inbox passwords only"
    )

    @field_validator("inbox_url")
    @classmethod
    def _inbox(cls, value: str) -> str:
        if "{reference}" not in value or not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL with {reference} in it")
        return value

    def duty_team(self, district: str | None) -> str:
        """The duty team for a postcode district (the default one if none covers it)."""
        return self._districts().get((district or "").upper(), self.default_duty_team)

    def _districts(self) -> dict[str, str]:
        return {d: tid for tid, team in self.teams.items() for d in team.districts}

    def manager_of(self, team: str) -> str:
        """Who a team's unacknowledged alerts escalate to."""
        return self.teams[team].escalate_to or self.escalation.to


def _references(cfg: AlertsConfig) -> list[str]:
    """Every team, agency and area a config names that it does not define."""
    teams = set(cfg.teams)
    known = ", ".join(sorted(teams))
    problems: list[str] = []

    def team(where: str, name: str | None, area_duty_ok: bool = False) -> None:
        if name is None or name in teams or (area_duty_ok and name == AREA_DUTY):
            return
        problems.append(f"{where}: no team named {name!r}; teams: {known}")

    team("default_duty_team", cfg.default_duty_team)
    team("escalation.to", cfg.escalation.to)
    seen: dict[str, str] = {}
    for tid, t in cfg.teams.items():
        team(f"teams.{tid}.escalate_to", t.escalate_to)
        if t.agency is not None and t.agency not in cfg.agencies:
            problems.append(f"teams.{tid}.agency: no agency {t.agency!r} in agencies")
        for d in t.districts:
            if d in seen:
                problems.append(f"teams.{tid}.districts: {d} is already {seen[d]}'s")
            seen[d] = tid
    if cfg.route.matchers:
        problems.append("route.matchers: the root route matches every alert; give it none")
    if cfg.route.receiver is None:
        problems.append(f"route.receiver: the root route needs a receiver (a team or {AREA_DUTY})")

    def walk(node: Route, where: str) -> None:
        team(f"{where}.receiver", node.receiver, area_duty_ok=True)
        if node.lead is not None and node.lead not in cfg.agencies:
            problems.append(
                f"{where}.lead: no agency {node.lead!r}; agencies: {', '.join(cfg.agencies)}"
            )
        for i, child in enumerate(node.routes):
            walk(child, f"{where}.routes[{i}]")

    walk(cfg.route, "route")
    names: dict[str, str] = {}

    def name(node: Route, where: str) -> None:
        label = route_label(node, where)
        if label in names:
            problems.append(f"{where}.name: {label!r} is also {names[label]}'s name")
        names[label] = where
        for i, child in enumerate(node.routes):
            name(child, f"{where}.routes[{i}]")

    name(cfg.route, "route")
    return problems


def load_config(path: Path) -> AlertsConfig:
    """Read and check an alerts config; secrets come from the environment.

    Args:
        path: the YAML file (`pipelines/config/alerts.yaml` in the product).

    Returns:
        The checked config.

    Raises:
        ConfigError: naming the file, each wrong key and what was expected.
    """
    cfg = load_settings(path, AlertsConfig)
    problems = _references(cfg)
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))
    return cfg
