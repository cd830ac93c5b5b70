"""The base handler: every error path leaves as the envelope, nothing internal leaks."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from pydantic import BaseModel, Field

from server.config import Settings
from server.handlers.base import ANY_ROLE, ApiHandler, content_disposition, endpoint
from server.services.container import Services
from tests.client import ApiClient
from tests.conftest import serve_app


class ProbeIn(BaseModel):
    name: str = Field(max_length=5)
    count: int


class ProbeOut(BaseModel):
    echo: str


class ProbeHandler(ApiHandler):
    @endpoint("probe", body=ProbeIn, response=ProbeOut, max_body_bytes=1000)
    async def post(self, body: ProbeIn) -> ProbeOut:
        return ProbeOut(echo=body.name * body.count)


class CrashHandler(ApiHandler):
    @endpoint("crash")
    async def get(self) -> None:
        raise RuntimeError("secret internal detail 11010519491231002X")


class PrivateHandler(ApiHandler):
    @endpoint("private", roles=ANY_ROLE)
    async def get(self) -> None:
        self.write_json({"ok": True})


PROBE_ROUTES: list[tuple[Any, ...]] = [
    (r"/probe", ProbeHandler),
    (r"/crash", CrashHandler),
    (r"/private", PrivateHandler),
]


@pytest.fixture
async def probe(settings: Settings, services: Services):
    async with serve_app(settings, services, PROBE_ROUTES) as client:
        yield client


async def test_valid_body_is_parsed_and_answered(probe: ApiClient) -> None:
    r = await probe.post("/probe", {"name": "ab", "count": 2})
    assert r.status == 200
    assert r.json == {"echo": "abab"}
    assert r.headers["Content-Type"].startswith("application/json")
    assert len(r.headers["X-Request-Id"]) >= 8


async def test_malformed_json_is_400(probe: ApiClient) -> None:
    r = await probe.request("POST", "/probe", body=b'{"name": ', headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert r.error_code == "malformed_json"
    assert "JSON" in r.json["error"]["message"]


async def test_json_that_is_not_an_object_is_400(probe: ApiClient) -> None:
    r = await probe.post("/probe", [1, 2])
    assert r.status == 400 and r.error_code == "malformed_json"


async def test_wrong_content_type_is_415(probe: ApiClient) -> None:
    r = await probe.request("POST", "/probe", body=b"name=a", headers={"Content-Type": "text/plain"})
    assert r.status == 415 and r.error_code == "unsupported_media_type"


async def test_invalid_fields_are_422_with_chinese_details(probe: ApiClient) -> None:
    r = await probe.post("/probe", {"name": "toolongname", "count": "many"})
    assert r.status == 422
    fields = r.json["error"]["details"]["fields"]
    assert fields["name"] == "长度不能超过 5 个字符"
    assert fields["count"] == "应为整数"


async def test_missing_field_is_422(probe: ApiClient) -> None:
    r = await probe.post("/probe", {"name": "a"})
    assert r.status == 422 and r.json["error"]["details"]["fields"] == {"count": "必填项"}


async def test_body_over_the_endpoint_limit_is_413(probe: ApiClient) -> None:
    r = await probe.post("/probe", {"name": "a" * 2000, "count": 1})
    assert r.status == 413 and r.error_code == "payload_too_large"
    assert r.json["error"]["details"]["limit_bytes"] == 1000


async def _headers_only(client: ApiClient, head: str) -> tuple[int, dict[str, Any]]:
    """Send a request's headers and no body; the status and JSON the server answers with anyway."""
    host, port = client.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        await writer.drain()
        status_line, _, rest = (await asyncio.wait_for(reader.read(65536), 5)).partition(b"\r\n")
        return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])
    finally:
        writer.close()
        await writer.wait_closed()


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(probe: ApiClient) -> None:
    # 20 MB declared, over the limit of the endpoint and of the server: the envelope comes at once,
    # with no byte of the body read (a client that waits for "100 Continue" never sends it).
    status, answer = await _headers_only(
        probe,
        "POST /probe HTTP/1.1\nHost: t\nContent-Type: application/json\n"
        "Content-Length: 20000000\nExpect: 100-continue\n",
    )
    assert status == 413 and answer["error"]["details"]["limit_bytes"] == 1000


async def test_a_content_length_that_is_not_a_number_is_400(probe: ApiClient) -> None:
    status, answer = await _headers_only(
        probe, "POST /probe HTTP/1.1\nHost: t\nContent-Type: application/json\nContent-Length: 12abc\n"
    )
    assert status == 400 and answer["error"]["code"] == "bad_content_length"


async def test_an_anonymous_upload_is_refused_before_its_body(api: ApiClient) -> None:
    status, answer = await _headers_only(
        api,
        "PUT /api/v1/me/photo HTTP/1.1\nHost: t\nContent-Type: image/jpeg\nContent-Length: 5000000\n",
    )
    assert status == 401 and answer["error"]["code"] == "not_authenticated"


async def test_a_chunked_body_is_read_and_capped(probe: ApiClient) -> None:
    def chunked(data: bytes) -> bytes:
        pieces = [data[i:i + 300] for i in range(0, len(data), 300)]
        return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"

    host, port = probe.base_url.removeprefix("http://").split(":")
    answers = []
    for body in (b'{"name": "ab", "count": 2}', json.dumps({"name": "a" * 2000, "count": 1}).encode()):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"POST /probe HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body))
        answers.append(await asyncio.wait_for(reader.read(65536), 5))
        writer.close()
        await writer.wait_closed()
    assert answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b'{"echo":"abab"}')
    assert not answers[1].startswith(b"HTTP/1.1 200")  # over 1000 bytes: the connection is cut


async def test_unknown_route_is_a_404_envelope(probe: ApiClient) -> None:
    r = await probe.get("/no/such/thing")
    assert r.status == 404 and r.error_code == "route_not_found"
    assert r.json["error"]["message"] == "接口不存在"


async def test_unsupported_method_is_405_envelope(probe: ApiClient) -> None:
    r = await probe.request("DELETE", "/probe")
    assert r.status == 405 and r.error_code == "method_not_allowed"


async def test_unexpected_exception_is_500_without_internals(
    probe: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="server.handlers"):
        r = await probe.get("/crash")
    assert r.status == 500 and r.error_code == "internal_error"
    request_id = r.json["error"]["details"]["request_id"]
    assert request_id == r.headers["X-Request-Id"]
    assert b"secret internal detail" not in r.body and b"Traceback" not in r.body
    logged = [rec for rec in caplog.records if rec.name == "server.handlers"]
    assert logged and request_id in logged[0].getMessage() and logged[0].exc_info is not None


async def test_protected_endpoint_without_token_is_401(probe: ApiClient) -> None:
    r = await probe.get("/private")
    assert r.status == 401 and r.error_code == "not_authenticated"
    r = await probe.get("/private", token="forged-token")
    assert r.status == 401 and r.error_code == "invalid_token"


async def test_access_log_has_no_query_string_or_body(
    probe: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="server.access"):
        await probe.post("/probe?phone=13800138000", {"name": "张三", "count": 1})
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "server.access"]
    assert len(lines) == 1
    assert lines[0].startswith("POST /probe 200 ")
    assert "13800138000" not in lines[0] and "张三" not in lines[0]


def test_content_disposition_keeps_a_chinese_filename() -> None:
    header = content_disposition("听课证 张三.pdf")
    assert "filename*=UTF-8''%E5%90%AC%E8%AF%BE%E8%AF%81%20%E5%BC%A0%E4%B8%89.pdf" in header
    assert header.startswith('attachment; filename="')
