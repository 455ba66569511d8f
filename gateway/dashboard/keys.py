"""The API keys page: the tenant's keys, and forms that create, rotate and revoke them through /v1/keys.
A new key's secret comes back once, in the API's answer, and is shown from it (data-reveal), never
stored or rendered by the server."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.admin.keys import key_status
from gateway.dashboard import views
from gateway.services import services
from projections import admin
from projections.login_sessions import LoginSession

# What a rotated key's grace may be, as the form offers it (the API's default first).
GRACES = (("86400", "1 day"), ("3600", "1 hour"), ("604800", "7 days"))


@views.page
async def keys_page(request: Request, session: LoginSession) -> Response:
    now = datetime.now(UTC)
    rows = await admin.keys(services(request).pool, session.tenant_id)
    keys = [{**dict(r), "status": key_status(r["revoked_at"], now)} for r in reversed(rows)]
    return views.render(request, "keys/list.html", {"keys": keys, "graces": GRACES})


ROUTES: list[BaseRoute] = [Route("/dashboard/keys", keys_page, methods=["GET"])]
