"""Insight: what the alerts add up to, for whom, and where the system fails people.

The public face; so far `disclosure` (every aggregate count through one rule before it
is published).
"""

from insight.disclosure import SUPPRESSED, DisclosureRule, Protected, protect, recoverable

__all__ = ["SUPPRESSED", "DisclosureRule", "Protected", "protect", "recoverable"]
