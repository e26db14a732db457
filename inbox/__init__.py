"""The inbox: where a duty professional reviews, forwards and closes alerts.

A FastAPI app with server-rendered pages over the operational store (`alerts.store`):
`create_app` builds it; `joinedup inbox` serves it on loopback.
"""

from inbox.app import create_app

__all__ = ["create_app"]
