"""Alerts: select, route and deliver the highest-risk cases, exactly once."""
