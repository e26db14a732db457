"""Insight: what the alerts add up to, for whom, and where the system fails people.

The public face; so far `disclosure` (every aggregate count through one rule before it
is published) and `reach` (whom the system reaches, group by group).
"""

from insight.disclosure import SUPPRESSED, DisclosureRule, Protected, protect, recoverable
from insight.reach import ReachRow, ReachTable, reach

__all__ = [
    "SUPPRESSED",
    "DisclosureRule",
    "Protected",
    "ReachRow",
    "ReachTable",
    "protect",
    "reach",
    "recoverable",
]
