"""``GET /metrics``: Prometheus metrics (server/metrics.py), for the monitoring system only."""

from __future__ import annotations

from server.handlers.base import ApiHandler, endpoint
from server.metrics import Metrics


class MetricsHandler(ApiHandler):
    """``GET /metrics``."""

    @endpoint("Prometheus 监控指标（需 Authorization: Bearer METRICS_TOKEN；未设置时关闭）",
              tags=["system"], produces="text/plain; version=0.0.4", errors=[401, 403])
    async def get(self) -> None:
        """The metrics in Prometheus' text format; 403 when METRICS_TOKEN is not set, 401 without it."""
        metrics: Metrics = self.application.settings["metrics"]
        metrics.authorize(self.config.metrics_token.get_secret_value(), self.request.headers.get("Authorization"))
        content_type, body = await metrics.render(self.services.db, self.services.pools)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)


routes = [
    (r"/metrics", MetricsHandler),
]
