"""The evaluation report of a trained model: JSON for machines, one HTML page for people.

The page opens with a model card in the manner of the UK Algorithmic Transparency
Recording Standard (what the tool is for, who owns it, how it is used, what data it reads
and does not, how well it does, and its limits), then the figures: discrimination, what
the flags are worth at the threshold and at capacity, calibration (a curve drawn inline,
so the page needs nothing from the network), and disparities by group.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from risk_models.evaluate import Evaluation, capacity_cost


@dataclass
class ModelCard:
    """What a reader of the report needs to know beyond the figures."""

    name: str
    version: str
    purpose: str
    owner: str
    contact: str
    use: str
    data: list[str]
    not_used: list[str]
    limitations: list[str]
    risks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return dict(self.__dict__)


def _svg_calibration(points: list[dict[str, float]], size: int = 260) -> str:
    top = max([0.05] + [max(p["predicted"], p["observed"]) for p in points]) * 1.05
    pad = 30

    def at(v: float) -> float:
        return pad + (size - 2 * pad) * v / top

    dots = "".join(
        f'<circle cx="{at(p["predicted"]):.1f}" cy="{size - at(p["observed"]):.1f}" r="3"/>'
        for p in points
    )
    line = " ".join(f"{at(p['predicted']):.1f},{size - at(p['observed']):.1f}" for p in points)
    return (
        f'<svg width="{size}" height="{size}" role="img" aria-label="calibration curve">'
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#999" '
        'stroke-dasharray="4"/>'
        f'<polyline points="{line}" fill="none" stroke="#036"/>{dots}'
        f'<text x="{pad}" y="{size - 8}" font-size="11">predicted (0 to {top:.2f})</text>'
        f'<text x="4" y="{pad - 10}" font-size="11">observed</text></svg>'
    )


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return html.escape("" if v is None else str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


# The per-group figures shown with their 95% intervals, and how many decimals each takes.
GROUP_FIGURES = {
    "base_rate": 3,
    "selection_rate": 3,
    "precision": 3,
    "recall": 3,
    "false_positive_rate": 3,
    "false_negative_rate": 3,
    "auc": 3,
    "ece": 4,
}


GROUP_COLUMNS = ["attribute", "group", "persons", "outcomes", *GROUP_FIGURES]


def _with_intervals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each group's figures as "value (low to high)" for the page."""
    shown = []
    for r in rows:
        row = {k: r.get(k) for k in ("attribute", "group", "persons", "outcomes")}
        for name, places in GROUP_FIGURES.items():
            value = r.get(name)
            if value is None:
                row[name] = None
                continue
            low, high = r.get(f"{name}_low"), r.get(f"{name}_high")
            interval = f" ({low:.{places}f} to {high:.{places}f})" if low is not None else ""
            row[name] = f"{value:.{places}f}{interval}"
        shown.append(row)
    return shown


def _items(values: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in values) + "</ul>"


def render_html(card: ModelCard, evaluation: Evaluation, context: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    e = evaluation
    oracle = (
        f"<p>Oracle AUC (the true risk, known only in a synthetic world): {e.oracle_auc:.3f}; "
        f"this model reaches {e.auc / e.oracle_auc:.1%} of it.</p>"
        if e.oracle_auc
        else ""
    )
    cuts = (
        _table(
            [e.threshold.__dict__, e.capacity.__dict__],
            ["cut", "flagged", "true_flags", "precision", "recall", "lowest_probability"],
        )
        + f"<p>{html.escape(capacity_cost(e, str(context.get('capacity from', 'risk.yaml'))))}</p>"
    )
    settings = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in context.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(card.name)} {html.escape(card.version)}: evaluation</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:left}}</style></head><body>
<h1>{html.escape(card.name)}, version {html.escape(card.version)}</h1>
<h2>Model card</h2>
<table>
<tr><th>Purpose</th><td>{html.escape(card.purpose)}</td></tr>
<tr><th>Owner</th><td>{html.escape(card.owner)}</td></tr>
<tr><th>Contact</th><td>{html.escape(card.contact)}</td></tr>
<tr><th>How it is used</th><td>{html.escape(card.use)}</td></tr>
</table>
<h3>Data it reads</h3>{_items(card.data)}
<h3>Data it does not read</h3>{_items(card.not_used)}
<h3>Limitations</h3>{_items(card.limitations)}
<h3>Risks and how they are handled</h3>{_items(card.risks)}
<h2>How it was judged</h2><table>{settings}</table>
<h2>Discrimination</h2>
<p>{e.persons:,} persons, {e.outcomes:,} with a serious event in the horizon
({e.outcome_rate:.2%}). AUC {e.auc:.3f}; average precision {e.average_precision:.3f}.</p>
{oracle}
<h2>At the operating threshold and at capacity</h2>{cuts}
<h2>Calibration</h2>
<p>Expected calibration error {e.ece:.4f} (mean gap between predicted and observed rates,
over ten equal groups of persons).</p>
{_svg_calibration(e.calibration)}
{_table(e.calibration, ["persons", "predicted", "observed"])}
<h2>Each group at the operating threshold</h2>
<p>Groups of fewer than 10 persons are suppressed; a rate over fewer than 10 is left
out, and an AUC with fewer than 10 outcomes or non-outcomes. Base rate: the share with a
serious event; precision: the share of the group's flags that were right; recall: the
share of the group's serious events that were flagged; AUC and ECE: how well the scores
rank and fit the group's own people. In brackets, 95% intervals (Wilson for rates,
Hanley and McNeil for the AUC, a bootstrap of the calibration bins for the ECE).
"unknown": no record gives it.</p>
{_items(e.group_warnings) if e.group_warnings else "<p>No group beyond its bounds.</p>"}
{_table(_with_intervals(e.disparities), GROUP_COLUMNS)}
</body></html>
"""


def write_report(
    folder: Path, card: ModelCard, evaluation: Evaluation, context: dict[str, Any]
) -> tuple[Path, Path]:
    """Write `evaluation.json` and `evaluation.html` into the model's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"model_card": card.as_dict(), "context": context, **evaluation.as_dict()}
    as_json = folder / "evaluation.json"
    as_json.write_text(json.dumps(data, indent=1, default=str))
    as_html = folder / "evaluation.html"
    as_html.write_text(render_html(card, evaluation, context), encoding="utf-8")
    return as_json, as_html
