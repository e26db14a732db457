"""joinedup: world."""
