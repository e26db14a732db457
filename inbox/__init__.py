"""The inbox: where a duty professional reviews, forwards and closes alerts.

A FastAPI app with server-rendered pages over the operational store (`alerts.store`):
`create_app` builds it; `joinedup inbox` serves it on loopback.

`create_app` is imported when first asked for, not with the package: the insight
package reads the inbox's vocabulary (`inbox.tables`), and the app reads insight's
reports, so importing the app with the package would import each from the other.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from inbox.app import create_app

        return create_app
    raise AttributeError(f"module 'inbox' has no attribute {name!r}")
