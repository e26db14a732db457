"""The synthetic multi-agency world: partners' native extracts, nightly, with the truth apart."""
