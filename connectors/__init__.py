"""Connectors: take each partner's extract as it is, standardise it, quarantine what is bad."""
