"""The alerts config: the shipped one loads; a wrong one is refused before anything, with
the file, the key and what was expected."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alertworld import NIGHT, NOW, ConfigMaker, Linked, SmtpSink, WebhookServer, write_scores

from alerts import ConfigError, load_config, run_alerts
from alerts.config import AREA_DUTY

SHIPPED = Path(__file__).parents[2] / "pipelines" / "config" / "alerts.yaml"


def test_the_shipped_config_loads_and_covers_every_district_of_the_borough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOINEDUP_SMTP_URL", "mailto://127.0.0.1:2525")
    cfg = load_config(SHIPPED)
    areas = (Path(__file__).parents[2] / "world" / "vocab" / "areas.csv").read_text()
    districts = {line.split(",")[1] for line in areas.splitlines()[1:]}
    assert {cfg.duty_team(d) for d in districts} <= set(cfg.teams) - {cfg.default_duty_team}
    assert cfg.duty_team("ZZ9") == cfg.default_duty_team
    assert cfg.route.receiver == AREA_DUTY
    assert cfg.professionals.targets_for("o.c@police.example")["email"].endswith(
        "&to=o.c@police.example"
    )


def test_the_shipped_config_needs_its_mail_relay_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOINEDUP_SMTP_URL", raising=False)
    with pytest.raises(ConfigError) as err:
        load_config(SHIPPED)
    assert str(SHIPPED) in str(err.value)
    assert "environment variable JOINEDUP_SMTP_URL is not set" in str(err.value)
    assert "teams.mash_millbrook.targets.email" in str(err.value)


Edit = Callable[[dict[str, Any]], None]


def _route(i: int, **kw: Any) -> Edit:
    return lambda c: c["route"]["routes"][i].update(**kw)


@pytest.mark.parametrize(
    ("edit", "key", "says"),
    [
        (_route(1, receiver="nobody"), "route.routes[1].receiver", "no team named 'nobody'"),
        (
            lambda c: c["route"]["routes"][0].update(routes=[{"receiver": "gone"}]),
            "route.routes[0].routes[0].receiver",
            "no team named 'gone'",
        ),
        (lambda c: c["escalation"].update(to="boss"), "escalation.to", "no team named 'boss'"),
        (
            lambda c: c["teams"]["csc_team"].update(escalate_to="x"),
            "teams.csc_team.escalate_to",
            "no team named 'x'",
        ),
        (lambda c: c.update(default_duty_team="y"), "default_duty_team", "no team named 'y'"),
        (_route(0, lead="social_work"), "route.routes[0].lead", "no agency 'social_work'"),
        (_route(0, matchers=["colour=red"]), "route.routes[0].matchers", "no label 'colour'"),
        (_route(1, name="child_csc"), "route.routes[1].name", "'child_csc' is also"),
        (
            lambda c: c["teams"]["duty_south"].update(districts=["JU7"]),
            "teams.duty_south.districts",
            "JU7 is already duty_north's",
        ),
        (
            lambda c: c["professionals"].update(targets={"email": "mailto://127.0.0.1:9"}),
            "professionals.targets",
            "needs {email}",
        ),
        (
            lambda c: c.update(inbox_url="http://127.0.0.1:8000/alerts"),
            "inbox_url",
            "{reference}",
        ),
        (
            lambda c: c["selection"].update(cooldown_days=3),
            "selection.cooldown_days",
            "unknown key; did you mean 'cool_down_days'?",
        ),
        (
            lambda c: c["selection"].update(bands=["severe"]),
            "selection.bands[0]",
            "'low', 'medium', 'high' or 'very_high'",
        ),
        (lambda c: c["route"].update(matchers=["kind=rise"]), "route.matchers", "root route"),
    ],
)
def test_a_wrong_config_names_the_file_and_the_key(
    edit: Edit, key: str, says: str, make_config: ConfigMaker
) -> None:
    path = make_config(edit)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    line = next((x for x in str(err.value).splitlines() if key in x), "")
    assert says in line, str(err.value)


def test_an_apprise_url_that_does_not_parse_is_named_without_its_secrets(
    make_config: ConfigMaker,
) -> None:
    bad = "nosuchscheme://user:s3cret@host/path"
    path = make_config(lambda c: c["teams"]["duty_north"]["targets"].update(hook=bad))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "teams.duty_north.targets" in message
    assert "not a URL Apprise can send to" in message
    assert "s3cret" not in message


def test_a_wrong_config_stops_the_run_before_anything_is_stored_or_sent(
    linked: Linked,
    warehouse: Path,
    make_config: ConfigMaker,
    smtp: SmtpSink,
    webhook: WebhookServer,
    tmp_path: Path,
) -> None:
    write_scores(warehouse, NIGHT, {linked.picks.quiet_north: {"band": "high"}})
    path = make_config(_route(1, receiver="nobody"))
    store = tmp_path / "store.sqlite"
    with pytest.raises(ConfigError, match=r"route\.routes\[1\]\.receiver: no team named"):
        run_alerts(warehouse, NIGHT, f"sqlite:///{store}", path, NOW)
    assert not store.exists()
    assert not smtp.mails and not webhook.hooks


def test_config_secrets_come_from_the_environment(
    make_config: ConfigMaker, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTS_TEST_RELAY", f"mailto://127.0.0.1:{smtp.port}")
    path = make_config(
        lambda c: c["teams"]["managers"]["targets"].update(
            email="${ALERTS_TEST_RELAY}?from=a@b.example&to=m@council.example"
        )
    )
    cfg = load_config(path)
    assert cfg.teams["managers"].targets["email"].startswith(os.environ["ALERTS_TEST_RELAY"])
