"""joinedup: pipelines."""
