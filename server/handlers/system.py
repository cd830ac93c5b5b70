"""Liveness and the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from server.errors import AppError
from server.handlers.base import ApiHandler, endpoint


class HealthOut(BaseModel):
    """Liveness of the process and reachability of the database."""

    status: Literal["ok"]
    database: Literal["ok"]


class HealthHandler(ApiHandler):
    """``GET /healthz``."""

    @endpoint("存活与数据库连通性检查", response=HealthOut, tags=["system"], errors=[503])
    async def get(self) -> HealthOut:
        """200 when the database answers, 503 when it does not."""
        if not await self.services.health.healthy():
            raise AppError(503, "database_unreachable", "数据库暂时无法连接")
        return HealthOut(status="ok", database="ok")


class OpenApiHandler(ApiHandler):
    """``GET /api/openapi.json``: generated from the routes once, at start-up."""

    @endpoint("OpenAPI 3.1 文档", tags=["system"])
    async def get(self) -> None:
        """The document built by ``make_app``."""
        self.set_header("Cache-Control", "public, max-age=60")
        self.write_json(self.application.settings["openapi"])


routes = [
    (r"/healthz", HealthHandler),
    (r"/api/openapi.json", OpenApiHandler),
]
