"""Windows of days before an as-of date: which events fall in them, and how to say so.

An event dated `date` is `ago = as_of - date` days old. It is in a window of `w` days when
``0 <= ago < w``, that is ``as_of - w < date <= as_of``: the as-of date itself is in every
window, and an event exactly `w` days before it is outside. Nothing dated after the as-of
date is ever in a window.
"""

from __future__ import annotations


def ago_sql(date: str, as_of: str) -> str:
    """SQL for an event's age in days at the as-of date (0 on the day itself)."""
    return f"date_diff('day', {date}, {as_of})"


def in_window(ago: str, days: int, after: int = 0) -> str:
    """SQL: the event is in the `days`-day window that ends `after` days before the as-of date."""
    if after:
        return f"({ago} >= {after} AND {ago} < {after + days})"
    return f"{ago} < {days}"


def period(days: int) -> str:
    """A window's length as a professional says it: "90 days", "12 months", "2 years"."""
    if days % 365 == 0:
        years = days // 365
        return "12 months" if years == 1 else f"{years} years"
    return "1 day" if days == 1 else f"{days} days"


def count_words(n: int, noun: str, plural: str) -> str:
    """ "no referrals", "1 referral", "3 referrals"."""
    if n == 0:
        return f"no {plural}"
    return f"{n} {noun if n == 1 else plural}"
