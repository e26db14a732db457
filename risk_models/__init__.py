"""joinedup: risk_models."""
