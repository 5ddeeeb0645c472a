"""frontend-monolith: the login page, the workflow list and the Workflow Canvas."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

from prober.sandbox.middleware import silent_variants

STATIC_DIR = Path(__file__).parent / "static"
_NO_STORE = {"cache-control": "no-store"}


@cache
def _page(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


async def login_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("login.html"), headers=_NO_STORE)


async def list_page(request: Request) -> HTMLResponse:
    return HTMLResponse(_page("list.html"), headers=_NO_STORE)


async def canvas_page(request: Request) -> HTMLResponse:
    html = _page("canvas.html")
    if "blank_canvas" in silent_variants(request.scope):
        html = html.replace('data-canvas-variant="normal"', 'data-canvas-variant="blank_canvas"')
    return HTMLResponse(html, headers=_NO_STORE)
