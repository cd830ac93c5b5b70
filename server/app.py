"""make_app: the Tornado application, joined from each handler module's ``routes``."""

from __future__ import annotations

from typing import Any

import tornado.httputil
import tornado.web

from server import __version__
from server.config import Settings
from server.handlers import admin_settings, audit, jobs, notify_texts, privacy, profile, system
from server.handlers import backoffice as backoffice_handlers
from server.handlers import metrics as metrics_handlers
from server.handlers.accounts import admin as accounts_admin
from server.handlers.accounts import auth, sms
from server.handlers.accounts import subscriptions as notify_subscriptions
from server.handlers.base import NotFoundHandler, log_request
from server.handlers.catalog import admin as catalog_admin
from server.handlers.catalog import sessions
from server.handlers.certificates import certificates
from server.handlers.enrollment import enrollments, templates
from server.handlers.passes import keys as pass_keys
from server.handlers.passes import passes as pass_handlers
from server.handlers.passes import scanner
from server.handlers.payments import exports as payment_exports
from server.handlers.payments import invoices as payment_invoices
from server.handlers.payments import payments
from server.handlers.results import results as exam_results
from server.handlers.staff import membership as unit_membership
from server.handlers.staff import staff
from server.handlers.staff import verification as unit_verification
from server.handlers.web import web_routes
from server.metrics import Metrics
from server.openapi import build_openapi
from server.services.container import Services


class _Identity(tornado.web.OutputTransform):
    """Tornado's no-op transform; it keeps no state, so one instance serves every request."""

    def __init__(self) -> None:
        pass


_IDENTITY = _Identity()


def gzip_when_accepted(request: tornado.httputil.HTTPServerRequest) -> tornado.web.OutputTransform:
    """The output transform of a request: Tornado's gzip (``compress_response``) when the client
    accepts gzip, else the identity, shared (the gzip transform per request, with its ``Vary``
    header, was a twentieth of ``/healthz``'s CPU for clients that never asked for it)."""
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return tornado.web.GZipContentEncoding(request)
    return _IDENTITY

# Each area's handler module contributes its ``routes``; add new modules here.
HANDLER_MODULES = (
    system, auth, sms, audit, accounts_admin, profile, catalog_admin, sessions, templates, enrollments, staff,
    unit_verification, unit_membership, privacy,
    jobs,
    notify_subscriptions,
    payment_invoices, payment_exports,
    payments,
    pass_handlers, scanner,
    exam_results,
    certificates,
    metrics_handlers,
    pass_keys,
    admin_settings,
    notify_texts,
    backoffice_handlers,
)


def all_routes() -> list[tuple[Any, ...]]:
    """Every route of the API, in order."""
    return [route for module in HANDLER_MODULES for route in module.routes]


def make_app(
    settings: Settings, services: Services, routes: list[tuple[Any, ...]] | None = None
) -> tornado.web.Application:
    """The application serving ``services`` under ``settings`` (``routes``: all by default)."""
    routes = all_routes() if routes is None else routes
    metrics = Metrics(routes)
    return tornado.web.Application(
        [*routes, *web_routes(settings.web_dist)],  # the web view after the API: it takes what is left
        app_settings=settings,
        services=services,
        openapi=build_openapi(routes, title="培训考试报名系统 API", version=__version__),
        default_handler_class=NotFoundHandler,
        log_function=metrics.observing(log_request),
        metrics=metrics,
        transforms=[gzip_when_accepted],  # Tornado's compress_response, free for a client that does not ask
        xsrf_cookies=False,  # the API uses bearer tokens; the web view adds its own XSRF check
    )
