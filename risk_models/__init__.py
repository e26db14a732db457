"""Risk models: features, scores and their reasons, per person per night."""
