"""Routing by the tree: the lead professional when they can be reached, else the team; the
area's duty team by default; `continue`; matchers as Alertmanager reads them."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.config import AlertsConfig, Professionals
from alerts.matchers import Labels, parse_matcher
from alerts.route import PROFESSIONAL, TEAM, Router

HOOK = "json://127.0.0.1:9/{}"


def _config(routes: list[dict[str, Any]]) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "inbox_url": "http://127.0.0.1:8000/alerts/{reference}",
            "agencies": ["childrens_social_care", "police", "education"],
            "teams": {
                "csc": {"name": "CSC", "targets": {"hook": HOOK.format("csc")}},
                "ppu": {"name": "PPU", "targets": {"hook": HOOK.format("ppu")}},
                "north": {"name": "North", "districts": ["ju1", "JU2"]},
                "elsewhere": {"name": "Elsewhere"},
                "managers": {"name": "Managers"},
            },
            "default_duty_team": "elsewhere",
            "professionals": {
                "domains": ["police.example", "sch.example"],
                "targets": {"email": "mailto://127.0.0.1:9?from=a@b.example&to={email}"},
            },
            "route": {"receiver": "area_duty", "routes": routes},
            "escalation": {"to": "managers"},
        }
    )


def _labels(**kw: Any) -> Labels:
    base: Labels = {
        "kind": "new_high",
        "band": "high",
        "rule": "",
        "agency": frozenset(),
        "known_to": frozenset(),
        "area": "JU1",
        "age_band": "25-64",
        "age_group": "adult",
        "person_id": "P1",
    }
    base.update({k: frozenset(v) if isinstance(v, set) else v for k, v in kw.items()})
    return base


def _lead(email: str | None) -> dict[str, Any]:
    return {"agency": "police", "professional": "A Officer", "email": email, "team": None}


TREE = [
    {
        "name": "child",
        "matchers": ["age_group=child", "agency=childrens_social_care"],
        "lead": "childrens_social_care",
        "receiver": "csc",
    },
    {"name": "police", "matchers": ["agency=police"], "lead": "police", "receiver": "ppu"},
]


def test_the_lead_professional_when_reachable_else_the_routes_team() -> None:
    router = Router(_config(TREE))
    labels = _labels(agency={"police", "housing"})
    (dest,) = router.route(labels, "JU1", {"police": _lead("A.Officer@Police.example")})
    assert (dest.recipient, dest.recipient_kind, dest.team, dest.rule) == (
        "a.officer@police.example",
        PROFESSIONAL,
        "ppu",
        "police",
    )
    for unusable in (None, "a.officer@gmail.example", "x@police.example&to=evil@bad.example"):
        (dest,) = router.route(labels, "JU1", {"police": _lead(unusable)})
        assert (dest.recipient, dest.recipient_kind) == ("ppu", TEAM)
        assert dest.lead is not None  # still named in the case pack
    (dest,) = router.route(labels, "JU1", {})
    assert (dest.recipient, dest.recipient_kind) == ("ppu", TEAM)


def test_the_area_duty_team_by_district_when_no_route_matches() -> None:
    router = Router(_config(TREE))
    for area, team in (
        ("JU1", "north"),
        ("ju2", "north"),
        ("JU9", "elsewhere"),
        (None, "elsewhere"),
    ):
        (dest,) = router.route(_labels(area=area or ""), area, {})
        assert (dest.recipient, dest.team, dest.rule) == (team, team, "default")
    # A child nobody in children's social care works with falls through to the duty team.
    (dest,) = router.route(_labels(age_group="child", agency={"education"}), "JU1", {})
    assert dest.recipient == "north"


def test_continue_sends_to_every_matching_route_and_never_one_recipient_twice() -> None:
    tree = [
        {**TREE[1], "continue": True, "matchers": ["agency=police", "band=very_high"]},
        {"name": "duty_copy", "matchers": ["band=very_high"], "receiver": "area_duty",
         "continue": True},
        {"name": "north_again", "matchers": ["area=JU1"], "receiver": "north"},
        TREE[0],
    ]  # fmt: skip
    router = Router(_config(tree))
    dests = router.route(_labels(band="very_high", agency={"police"}), "JU1", {})
    # police -> ppu; duty_copy -> north; north_again -> north again: dropped.
    assert [(d.rule, d.recipient) for d in dests] == [("police", "ppu"), ("duty_copy", "north")]
    dests = router.route(_labels(band="high", agency={"police"}), "JU1", {})
    assert [(d.rule, d.recipient) for d in dests] == [("north_again", "north")]


def test_child_routes_inherit_receiver_and_lead() -> None:
    tree = [
        {
            "name": "police",
            "matchers": ["agency=police"],
            "lead": "police",
            "receiver": "ppu",
            "routes": [{"name": "police_children", "matchers": ["age_group=child"]}],
        }
    ]
    router = Router(_config(tree))
    (dest,) = router.route(
        _labels(agency={"police"}, age_group="child"), "JU1", {"police": _lead("o@police.example")}
    )
    assert (dest.rule, dest.recipient, dest.team) == ("police_children", "o@police.example", "ppu")


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        ("agency=police", _labels(agency={"police", "housing"}), True),
        ("agency!=police", _labels(agency={"police", "housing"}), False),
        ("agency!=police", _labels(agency=set()), True),
        ("agency=~pol.*", _labels(agency={"housing", "police"}), True),
        ("agency=~pol", _labels(agency={"police"}), False),  # anchored, as in Alertmanager
        ("agency!~educ.*", _labels(agency={"police"}), True),
        ("age_band=~'0-4|5-10|11-15|16-17'", _labels(age_band="11-15"), True),
        ('area="JU10"', _labels(area="JU10"), True),
        ("area=JU1", _labels(area="JU10"), False),
        ("rule=", _labels(rule=""), True),
        ("kind != step_down", _labels(kind="new_high"), True),
    ],
)
def test_matchers(matcher: str, labels: Labels, expected: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("agency", "is not label=value"),
        ("colour=red", "no label 'colour'"),
        ("area=~JU(1", "not a regular expression"),
    ],
)
def test_bad_matchers_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_matcher(text)


def test_a_professionals_email_is_quoted_into_their_target() -> None:
    pros = Professionals.model_validate(
        {
            "domains": ["police.example"],
            "targets": {"email": "mailto://127.0.0.1:9?from=a@b.example&to={email}"},
            "overrides": {"Chief@Police.example": {"teams": HOOK.format("chief")}},
        }
    )
    assert pros.targets_for("o.brien+x@police.example") == {
        "email": "mailto://127.0.0.1:9?from=a@b.example&to=o.brien%2Bx@police.example"
    }
    assert pros.targets_for("chief@police.example") == {"teams": HOOK.format("chief")}
    assert pros.targets_for("someone@elsewhere.example") == {}
    assert pros.reachable("x@sub.police.example") and not pros.reachable("x@notpolice.example")
