"""Bands, indicators and the change since the last score."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from risk_models.features import FeaturesError
from risk_models.scoring import (
    BandSettings,
    Condition,
    Indicator,
    band,
    change,
    check_indicators,
    fired,
    risk_settings,
)

BANDS = BandSettings()


def test_bands() -> None:
    scores = pl.DataFrame({"p": [0.01, 0.05, 0.149, 0.15, 0.3, 0.9]})
    got = scores.select(band(pl.col("p"), BANDS)).to_series().to_list()
    assert got == ["low", "medium", "medium", "high", "very_high", "very_high"]


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        (None, 0.2, "new"),
        (0.02, 0.2, "rise"),
        (0.2, 0.35, "rise"),
        (0.35, 0.2, "fall"),  # very high to high: still alerting, not half
        (0.35, 0.16, "step_down"),  # half the last score or less
        (0.2, 0.08, "step_down"),  # from high to below high
        (0.08, 0.02, "fall"),  # never alerting: a fall, not a step-down
        (0.2, 0.18, "steady"),
    ],
)
def test_change(before: float | None, now: float, expected: str) -> None:
    frame = pl.DataFrame(
        {"before": [before], "now": [now]}, schema={"before": pl.Float64, "now": pl.Float64}
    )
    got = frame.select(
        change(
            band(pl.col("now"), BANDS),
            pl.col("now"),
            band(pl.col("before"), BANDS),
            pl.col("before"),
            BANDS,
        )
    ).item()
    assert got == expected


def test_indicators_fire_when_every_condition_holds() -> None:
    rules = [
        Indicator(
            name="many_agencies",
            text="Three or more agencies in 90 days",
            all=[Condition(feature="agencies_90d", op=">=", value=3)],
        ),
        Indicator(
            name="abuse_with_child",
            text="Domestic abuse in a household with a child",
            all=[
                Condition(feature="hh_n_domestic_abuse_90d", value=1),
                Condition(feature="hh_has_child", op="==", value=1),
            ],
        ),
    ]
    features = pl.DataFrame(
        {
            "agencies_90d": [3.0, 2.0, 4.0],
            "hh_n_domestic_abuse_90d": [0.0, 2.0, 1.0],
            "hh_has_child": [1.0, 1.0, 0.0],
        }
    )
    got = [[i["rule"] for i in row] for row in fired(features, rules).to_list()]
    assert got == [["many_agencies"], ["abuse_with_child"], ["many_agencies"]]
    with pytest.raises(FeaturesError, match="agencies_90d"):
        check_indicators(rules, ["hh_n_domestic_abuse_90d", "hh_has_child"])


def test_settings_are_validated(tmp_path: Path) -> None:
    shipped = risk_settings()
    assert shipped.bands.medium < shipped.bands.high < shipped.bands.very_high
    bad = tmp_path / "risk.yaml"
    bad.write_text("features: {}\noutcome: {types: [x]}\nbands: {medium: 0.4, high: 0.2}\n")
    with pytest.raises(FeaturesError, match=r"risk\.yaml.*bands"):
        risk_settings(bad)
    bad.write_text("features: {}\noutcome: {types: [x]}\nmodel: {threshold: 1.5}\n")
    with pytest.raises(FeaturesError, match=r"model\.threshold"):
        risk_settings(bad)


def test_capacity_from_the_teams_adds_up_alerts_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shipped settings take the shipped teams' capacities, relay settings or not.
    monkeypatch.delenv("JOINEDUP_SMTP_URL", raising=False)
    monkeypatch.delenv("JOINEDUP_ALERTS", raising=False)
    shipped = risk_settings().model
    assert (
        shipped.capacity == 245
        and shipped.capacity_from == "alerts.yaml: 9 teams' nightly capacity"
    )
    settings = tmp_path / "risk.yaml"
    settings.write_text("features: {}\noutcome: {types: [x]}\nmodel: {capacity: teams}\n")
    alerts = tmp_path / "alerts.yaml"
    monkeypatch.setenv("JOINEDUP_ALERTS", str(alerts))
    alerts.write_text(
        "teams:\n  a: {name: A, capacity: 30}\n  b: {name: B}\n  c: {name: C, capacity: 12}\n"
    )
    model = risk_settings(settings).model
    assert (model.capacity, model.capacity_from) == (42, "alerts.yaml: 2 teams' nightly capacity")
    alerts.write_text("teams:\n  a: {name: A, capacity: 30}\n  b: {name: B, capacity: lots}\n")
    with pytest.raises(FeaturesError, match=r"alerts\.yaml:3: .*capacity is a whole number"):
        risk_settings(settings)
    alerts.write_text("teams:\n  a: {name: A}\n")
    with pytest.raises(FeaturesError, match=r"no team in .* sets a capacity"):
        risk_settings(settings)
    # A number in risk.yaml stands as given.
    settings.write_text("features: {}\noutcome: {types: [x]}\nmodel: {capacity: 80}\n")
    assert risk_settings(settings).model.capacity_from == "risk.yaml"
