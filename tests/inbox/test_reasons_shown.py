"""An alert's reasons on the page: each with its points, and the rest of the score."""

from __future__ import annotations

from conftest import ALERT_SPECS, Inbox


def test_the_reasons_and_the_rest_add_up_to_the_score_on_the_page(inbox: Inbox) -> None:
    page = inbox.client("mash_north").get("/alerts/TEAMNORTH1").text
    score = ALERT_SPECS["TEAMNORTH1"][3]
    assert f"score {score:.2f}" in page
    assert "4 events in the last 12 months (+0.30)" in page
    assert f"the rest of the score, {score - 0.3:.2f}:" in page
