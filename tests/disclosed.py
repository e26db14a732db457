"""Reading what a report published: every count under given keys, and whether a
published count passes NHS Digital's rule (hidden, or 0, or 8 and over rounded to 5)."""

from __future__ import annotations

from typing import Any


def counts(value: Any, keys: set[str], key: str = "") -> list[Any]:
    """Every value held under one of `keys`, anywhere in a report's JSON."""
    if isinstance(value, dict):
        return [c for k, v in value.items() for c in counts(v, keys, k)]
    if isinstance(value, list):
        return [c for v in value for c in counts(v, keys, key)]
    return [value] if key in keys else []


def passes(value: Any) -> bool:
    """Whether a published count passes the rule: `*`, or 0, or >= 8 and a multiple of 5."""
    if value == "*":
        return True
    number = int(value)
    return str(number) == str(value).strip() and not 1 <= number <= 7 and number % 5 == 0
