"""joinedup: alerts."""
