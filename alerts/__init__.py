"""Alerts: select, route and deliver the highest-risk cases, exactly once.

The public face; the parts live in their modules (docs/alerts.md):
`select` (which scores become alerts), `route` (who hears of each), `casepack` (what the
inbox shows), `deliver` (digests through Apprise, retries), `escalate` (to the duty
manager), `store` (the operational store), `config` (the checked config).
"""

from alerts.config import AlertsConfig, ConfigError, load_config
from alerts.deliver import DeliveryReport
from alerts.escalate import EscalationReport
from alerts.people import WarehouseError
from alerts.run import AlertsReport, escalate, retry_failed, run_alerts
from alerts.store import acknowledge, add_silence, open_store, store_url

__all__ = [
    "AlertsConfig",
    "AlertsReport",
    "ConfigError",
    "DeliveryReport",
    "EscalationReport",
    "WarehouseError",
    "acknowledge",
    "add_silence",
    "escalate",
    "load_config",
    "open_store",
    "retry_failed",
    "run_alerts",
    "store_url",
]
