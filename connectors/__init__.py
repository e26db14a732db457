"""joinedup: connectors."""
