"""joinedup: matching."""
