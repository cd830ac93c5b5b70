"""Serving the built web view at /: history fallback, caching, gzip, security headers; /api stays JSON."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from server.config import Settings
from server.handlers.web import CSP
from server.services.container import Services
from tests.client import ApiClient
from tests.conftest import serve_app

INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head></html>'
SCRIPT = "console.log('培训');" * 200


@pytest.fixture
async def web(make_settings: Callable[..., Settings], services: Services, tmp_path: Path) -> AsyncIterator[ApiClient]:
    """The app over a small built web view of the test's own."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX, encoding="utf-8")
    (dist / "assets" / "index-abc123.js").write_text(SCRIPT, encoding="utf-8")
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    async with serve_app(make_settings(web_dist=dist), services) as client:
        yield client


async def test_client_routes_fall_back_to_index(web: ApiClient) -> None:
    for path in ("/", "/login", "/staff/6b10a3f8331cd1981f1599da", "/templates/invoices?x=1"):
        r = await web.get(path)
        assert r.status == 200, path
        assert r.body.decode() == INDEX
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["Content-Type"].startswith("text/html")


async def test_security_headers_on_pages(web: ApiClient) -> None:
    r = await web.get("/staff")
    assert r.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'self'" in CSP
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_hashed_assets_are_immutable_and_gzipped(web: ApiClient) -> None:
    http = AsyncHTTPClient(force_instance=True)
    try:  # the test client decompresses; this one shows the bytes on the wire
        r = await http.fetch(HTTPRequest(web.base_url + "/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"},
                                         decompress_response=False))
        plain = await http.fetch(HTTPRequest(web.base_url + "/assets/index-abc123.js", decompress_response=False))
    finally:
        http.close()
    assert "Content-Encoding" not in plain.headers and plain.body.decode() == SCRIPT  # a client that did not ask
    assert r.code == 200
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert r.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(r.body).decode() == SCRIPT
    assert len(r.body) < len(SCRIPT.encode()) / 10


async def test_missing_asset_is_a_404_not_the_app(web: ApiClient) -> None:
    r = await web.get("/assets/gone-123.js")
    assert r.status == 404
    assert "不存在" in r.body.decode()


async def test_api_paths_keep_their_json_404(web: ApiClient) -> None:
    for path in ("/api/v1/nothing-here", "/api/", "/api"):
        r = await web.get(path)
        assert r.status == 404, path
        assert r.error_code == "route_not_found"
    assert (await web.get("/healthz")).status == 200
    assert (await web.get("/api/openapi.json")).json["openapi"].startswith("3.")


async def test_no_escape_from_the_folder(web: ApiClient) -> None:
    r = await web.get("/..%2f..%2fetc%2fpasswd")
    assert r.status in (200, 403, 404)
    assert b"root:" not in r.body


async def test_without_a_build_a_page_says_how_to_build(make_settings: Callable[..., Settings], services: Services,
                                                         tmp_path: Path) -> None:
    async with serve_app(make_settings(web_dist=tmp_path / "none"), services) as client:
        r = await client.get("/login")
        assert r.status == 503
        assert "make web" in r.body.decode()
        assert (await client.get("/api/v1/nope")).error_code == "route_not_found"
