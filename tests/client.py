"""A small HTTP client for the tests: real requests, parsed JSON, no exceptions on 4xx/5xx."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httputil import HTTPHeaders


@dataclass
class Response:
    """What the server answered."""

    status: int
    headers: HTTPHeaders
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)

    @property
    def error_code(self) -> str | None:
        """``error.code`` of an error envelope, else None."""
        try:
            return self.json["error"]["code"]  # type: ignore[no-any-return]
        except (ValueError, KeyError, TypeError):
            return None


class ApiClient:
    """Calls the server under test over real HTTP."""

    def __init__(self, base_url: str, token: str | None = None, http: AsyncHTTPClient | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self._http = http or AsyncHTTPClient(force_instance=True, max_body_size=512 * 1024 * 1024)

    def with_token(self, token: str | None) -> ApiClient:
        """Another client on the same server, authenticated with ``token`` (closed with this one)."""
        return ApiClient(self.base_url, token, self._http)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Response:
        """Send one request; ``json`` is encoded with the JSON content type."""
        all_headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False)
            all_headers.setdefault("Content-Type", "application/json")
        bearer = token or self.token
        if bearer:
            all_headers.setdefault("Authorization", f"Bearer {bearer}")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        request = HTTPRequest(
            self.base_url + path,
            method=method,
            headers=all_headers,
            body=body,
            request_timeout=120,
            allow_nonstandard_methods=True,
        )
        answer = await self._http.fetch(request, raise_error=False)
        if answer.code == 599:
            raise ConnectionError(f"{method} {path}: {answer.error}")
        return Response(answer.code, answer.headers, answer.body or b"")

    async def get(self, path: str, **kwargs: Any) -> Response:
        """GET ``path``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Response:
        """POST ``path`` with a JSON body."""
        return await self.request("POST", path, json=json, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> Response:
        """PUT ``path`` with a JSON body."""
        return await self.request("PUT", path, json=json, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Response:
        """DELETE ``path``."""
        return await self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        """Release the connections."""
        self._http.close()
