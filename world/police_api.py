"""The police partner's REST API, served on loopback from a world's extracts.

It behaves as a force's records API does for a data-sharing partner: a bearer token,
incidents served a page at a time with a link to the next page, and a 401 that says why.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

MAX_PAGE_SIZE = 1000


@dataclass
class Faults:
    """Ways the force's API misbehaves, for testing the connector against them."""

    fail_from_page: int | None = None  # pages from this one on answer 500
    fail_times: int | None = None  # ...only this many times, then recover (None: for ever)
    token_expires_after: int | None = None  # requests answered before the token is refused
    rate_limit_first: int = 0  # requests answered 429 with Retry-After before any is served
    requests: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)


def create_app(world: Path, token: str, faults: Faults | None = None) -> FastAPI:
    """An app serving the police incidents of every night in the world folder."""
    faults = faults or Faults()
    app = FastAPI(title="Police partner API (synthetic)", docs_url=None, redoc_url=None)
    bearer = HTTPBearer(auto_error=False)

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        faults.requests += 1
        expired = faults.token_expires_after is not None and (
            faults.requests > faults.token_expires_after
        )
        if creds is None or expired or not secrets.compare_digest(creds.credentials, token):
            raise HTTPException(
                status_code=401,
                detail="missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @cache
    def night(date: str) -> list[dict[str, Any]]:
        path = world / "extracts" / date / "police" / "incidents.json"
        if not path.is_file():
            raise HTTPException(status_code=404, detail=f"no extract for {date}")
        incidents: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["incidents"]
        return incidents

    def dates() -> list[str]:
        return sorted(p.name for p in (world / "extracts").iterdir() if (p / "police").is_dir())

    @app.get("/api/v1/extracts", dependencies=[Depends(authorised)])
    def extracts() -> dict[str, list[str]]:
        return {"extractDates": dates()}

    @app.get("/api/v1/incidents", dependencies=[Depends(authorised)])
    def incidents(
        request: Request,
        extract_date: str | None = Query(None, alias="extractDate"),
        page: int = Query(1, ge=1),
        page_size: int = Query(500, ge=1, le=MAX_PAGE_SIZE, alias="pageSize"),
    ) -> Response:
        if faults.requests <= faults.rate_limit_first:
            raise HTTPException(status_code=429, detail="slow down", headers={"Retry-After": "1"})
        if (
            faults.fail_from_page is not None
            and page >= faults.fail_from_page
            and (faults.fail_times is None or faults.failures < faults.fail_times)
        ):
            faults.failures += 1
            raise HTTPException(status_code=500, detail="internal error")
        date = extract_date or dates()[-1]
        items = night(date)
        total_pages = max(1, -(-len(items) // page_size))
        if page > total_pages:
            raise HTTPException(status_code=404, detail=f"page {page} of {total_pages}")
        chunk = items[(page - 1) * page_size : page * page_size]
        nxt = None
        if page < total_pages:
            nxt = str(request.url.include_query_params(page=page + 1))
        page_body = {
            "extractDate": date,
            "page": page,
            "pageSize": page_size,
            "totalPages": total_pages,
            "totalItems": len(items),
            "items": chunk,
            "next": nxt,
        }
        # Serialised here: the incidents are plain JSON already, no model to validate.
        return Response(json.dumps(page_body, ensure_ascii=False), media_type="application/json")

    return app


class BackgroundServer:
    """Serve the police API on 127.0.0.1 in a thread, for the demo and the tests."""

    def __init__(
        self, world: Path, token: str, port: int = 0, faults: Faults | None = None
    ) -> None:
        self.faults = faults or Faults()
        config = uvicorn.Config(
            create_app(world, token, self.faults),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the police API did not start on 127.0.0.1")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        sock = self.server.servers[0].sockets[0]
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
