"""`GET /dashboard`: the operator's web page and its static assets, served by the gateway itself.

The page is plain HTML, CSS and JavaScript from gateway/static/dashboard (package data, no build step).
It holds no secret: the browser asks for a key, keeps it in sessionStorage, and reads only the public
operator and self-service APIs with it. Every answer carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

ASSETS = Path(__file__).resolve().parent.parent / "static" / "dashboard"

# No inline script or style, nothing from another origin, never framed.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
                  ".png": "image/png"}
_ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.(?:js|css|svg|png)")


def _serve(path: Path) -> web.Response:
    try:
        body = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise web.HTTPNotFound() from None
    content_type = _CONTENT_TYPES[path.suffix]
    charset = None if content_type == "image/png" else "utf-8"
    return web.Response(body=body, content_type=content_type, charset=charset, headers=SECURITY_HEADERS)


async def page(request: web.Request) -> web.Response:
    return _serve(ASSETS / "index.html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    # Only flat, plainly named files of the page's own folder: no path can leave it.
    if not _ASSET_NAME.fullmatch(name):
        raise web.HTTPNotFound()
    return _serve(ASSETS / name)


async def trailing_slash(request: web.Request) -> web.Response:
    # The page's links are relative to /dashboard (so it also works behind a path prefix).
    raise web.HTTPMovedPermanently(location="../dashboard")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/dashboard", page),
        web.get("/dashboard/", trailing_slash),
        web.get("/dashboard/{name}", asset),
    ]
