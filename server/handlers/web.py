"""The web view: the built single-page app (``web/dist``) served at ``/``.

- Hashed files under ``/assets/`` are cached for a year (``immutable``); ``index.html`` is
  revalidated on every load (``no-cache``), so a new build is picked up at once.
- Any other path that is not a file (``/staff``, ``/login``…) is a client-side route: it gets
  ``index.html`` (the history fallback). ``/api/…`` never does: unknown API paths keep their JSON 404.
- Every page carries the security headers: a CSP without inline scripts (the build has none),
  ``frame-ancestors 'self'`` (the mini-program's web-view opens pages as a top-level document of
  its own webview, not in a frame, so no other site needs to frame them), nosniff and a strict
  referrer policy.
- gzip comes from the application's output transform (``server.app.gzip_when_accepted``).

``python -m server.handlers.web openapi FILE`` writes the OpenAPI document the server serves
(``npm run gen-api`` turns it into ``web/src/api/schema.ts``) without starting anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tornado.web

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # component libraries set style attributes and <style> at run time
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "media-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>网页端尚未构建</title>
<p>网页端尚未构建：请在项目目录运行 <code>make web</code>（或 <code>make run</code>）后刷新本页。</p></html>"""


class WebAppHandler(tornado.web.StaticFileHandler):
    """The files of ``web/dist``; client-side routes fall back to ``index.html``."""

    def set_default_headers(self) -> None:
        """The pages' security headers, on every answer (also 304 and 404)."""
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)

    def parse_url_path(self, url_path: str) -> str:
        """A file that exists is served; ``assets/…`` that does not is a 404; anything else is the app."""
        root = Path(self.root)
        clean = url_path.strip("/")
        if clean and not clean.startswith("assets/") and not (root / clean).is_file():
            clean = "index.html"
        return super().parse_url_path(clean or "index.html")

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Tornado's checks (no escaping the folder); a build that is missing answers a page saying so."""
        if not Path(root, "index.html").is_file():
            self.set_status(503)
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.set_header("Cache-Control", "no-store")
            self.finish(NOT_BUILT)
            return None
        return super().validate_absolute_path(root, absolute_path)

    def set_extra_headers(self, path: str) -> None:
        """Hashed assets live forever; everything else is revalidated."""
        self.set_header("Cache-Control", IMMUTABLE if path.startswith("assets/") else "no-cache")

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        """Cache-Control is set by ``set_extra_headers`` (Tornado's ``Expires`` only for assets)."""
        return 31536000 if path.startswith("assets/") else 0

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A short Chinese page for a missing asset, instead of Tornado's English one."""
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>{status_code}</title>"
                    f"<p>页面或文件不存在（{status_code}）</p></html>")


def web_routes(dist: Path) -> list[tuple[Any, ...]]:
    """The routes of the web view over ``dist``: every path but ``/api/…`` and ``/healthz``."""
    return [(r"/(?!api/|api$|healthz$)(.*)", WebAppHandler, {"path": str(dist)})]


def dump_openapi(target: Path) -> None:
    """Write the OpenAPI document of every API route (what ``/api/openapi.json`` serves) to ``target``."""
    from server import __version__
    from server.app import all_routes
    from server.openapi import build_openapi

    document = build_openapi(all_routes(), title="培训考试报名系统 API", version=__version__)
    target.write_text(json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the gen-api script's entry
    if len(sys.argv) != 3 or sys.argv[1] != "openapi":
        sys.exit("usage: python -m server.handlers.web openapi FILE")
    dump_openapi(Path(sys.argv[2]))
