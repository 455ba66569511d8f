"""Which key scope each route needs, and the check every authenticated request passes (403
`insufficient_scope` otherwise). A test holds this table to the app's routes, so no route is forgotten.

`ingest` is what a product's backend needs to meter usage: send events, check entitlements (which may
place a hold) and release holds, read a customer's balance and entitlements. `admin` may do everything.
A key in its rotation grace period keeps its scope for everything but managing keys: the key that
replaced it does that.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.http.errors import ApiError
from pipeline.admin.keys import ADMIN, INGEST
from projections.admin import Caller

PUBLIC = "public"  # no key at all: health, metrics, the widget and its sessions, the hosted chat page
WEBSOCKET = "WEBSOCKET"
DASHBOARD = "dashboard"  # an HTML page: signed-out pages, or a session cookie checked by the page itself

ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("/healthz", "GET"): PUBLIC,
    ("/readyz", "GET"): PUBLIC,
    ("/metrics", "GET"): PUBLIC,
    ("/openapi.json", "GET"): PUBLIC,
    ("/v1/widget/sessions", "POST"): PUBLIC,
    ("/v1/widget/sessions", "OPTIONS"): PUBLIC,
    ("/v1/chat", WEBSOCKET): PUBLIC,
    # No key: the widget's session token or the dashboard's session cookie (gateway/chat/client_errors.py).
    ("/v1/client-errors", "POST"): PUBLIC,
    ("/widget.js", "GET"): PUBLIC,
    ("/chat/{agent_id}", "GET"): PUBLIC,
    # Twilio's: no key, but signed by the tenant's Twilio account (gateway/voice/twilio.py).
    ("/v1/voice/twilio/incoming", "POST"): PUBLIC,
    ("/v1/voice/twilio/ended", "POST"): PUBLIC,
    ("/v1/voice/twilio/status", "POST"): PUBLIC,
    ("/v1/voice/relay", WEBSOCKET): PUBLIC,
    ("/", "GET"): DASHBOARD,
    ("/signup", "GET"): DASHBOARD,
    ("/signup", "POST"): DASHBOARD,
    ("/login", "GET"): DASHBOARD,
    ("/login", "POST"): DASHBOARD,
    ("/logout", "POST"): DASHBOARD,
    ("/dashboard", "GET"): DASHBOARD,
    ("/dashboard/account", "GET"): DASHBOARD,
    ("/dashboard/account", "POST"): DASHBOARD,
    ("/dashboard/agents", "GET"): DASHBOARD,
    ("/dashboard/agents/new", "GET"): DASHBOARD,
    ("/dashboard/agents/{agent_id}", "GET"): DASHBOARD,
    ("/dashboard/keys", "GET"): DASHBOARD,
    ("/dashboard/conversations", "GET"): DASHBOARD,
    ("/dashboard/conversations/{conversation_id}", "GET"): DASHBOARD,
    ("/dashboard/calls", "GET"): DASHBOARD,
    ("/dashboard/calls/{call_sid}", "GET"): DASHBOARD,
    ("/dashboard/audit", "GET"): DASHBOARD,
    ("/dashboard/agents/{agent_id}/tools", "GET"): DASHBOARD,
    ("/dashboard/burn-tables", "GET"): DASHBOARD,
    ("/dashboard/burn-tables/{name}", "GET"): DASHBOARD,
    ("/dashboard/dead-letters", "GET"): DASHBOARD,
    ("/dashboard/dead-letters/{dead_letter_id}", "GET"): DASHBOARD,
    ("/dashboard/static/{name}", "GET"): DASHBOARD,
    ("/dashboard/customers", "GET"): DASHBOARD,
    ("/dashboard/customers/{customer}", "GET"): DASHBOARD,
    ("/dashboard/usage", "GET"): DASHBOARD,
    ("/v1/events", "POST"): INGEST,
    ("/v1/check", "POST"): INGEST,
    ("/v1/holds/{hold_id}", "DELETE"): INGEST,
    ("/v1/customers/{customer}/balance", "GET"): INGEST,
    ("/v1/customers/{customer}/entitlements", "GET"): INGEST,
    ("/v1/burn-tables", "GET"): ADMIN,
    ("/v1/burn-tables/{name}", "PUT"): ADMIN,
    ("/v1/burn-tables/{name}", "GET"): ADMIN,
    ("/v1/customers", "GET"): ADMIN,
    ("/v1/burn-tables/{name}/versions", "GET"): ADMIN,
    ("/v1/burn-tables/{name}/preview", "POST"): ADMIN,
    ("/v1/customers/{customer}", "PUT"): ADMIN,
    ("/v1/customers/{customer}", "GET"): ADMIN,
    ("/v1/customers/{customer}/grants", "POST"): ADMIN,
    ("/v1/customers/{customer}/charges", "GET"): ADMIN,
    ("/v1/audit", "GET"): ADMIN,
    ("/v1/dead-letters", "GET"): ADMIN,
    ("/v1/dead-letters/{dead_letter_id}", "GET"): ADMIN,
    ("/v1/dead-letters/{dead_letter_id}/replay", "POST"): ADMIN,
    ("/v1/webhooks", "POST"): ADMIN,
    ("/v1/webhooks", "GET"): ADMIN,
    ("/v1/webhooks/{endpoint_id}", "GET"): ADMIN,
    ("/v1/webhooks/{endpoint_id}", "PATCH"): ADMIN,
    ("/v1/webhooks/{endpoint_id}", "DELETE"): ADMIN,
    ("/v1/webhooks/{endpoint_id}/rotate-secret", "POST"): ADMIN,
    ("/v1/webhooks/{endpoint_id}/deliveries", "GET"): ADMIN,
    ("/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver", "POST"): ADMIN,
    ("/v1/keys", "GET"): ADMIN,
    ("/v1/keys", "POST"): ADMIN,
    ("/v1/keys/{key_id}/revoke", "POST"): ADMIN,
    ("/v1/keys/{key_id}/rotate", "POST"): ADMIN,
    ("/v1/customers/{customer}/entitlements/{feature}", "PUT"): ADMIN,
    ("/v1/customers/{customer}/grants/{grant_id}/void", "POST"): ADMIN,
    ("/v1/customers/{customer}/ledger", "GET"): ADMIN,
    ("/v1/customers/{customer}/alerts", "GET"): ADMIN,
    ("/v1/usage", "GET"): ADMIN,
    ("/v1/usage/export", "GET"): ADMIN,
    ("/v1/charges/export", "GET"): ADMIN,
    ("/v1/ledger/export", "GET"): ADMIN,
    ("/v1/events/{event_id:path}/void", "POST"): ADMIN,
    ("/v1/events/{event_id:path}/amend", "POST"): ADMIN,
    ("/v1/agents", "POST"): ADMIN,
    ("/v1/agents", "GET"): ADMIN,
    ("/v1/agents/{agent_id}", "GET"): ADMIN,
    ("/v1/agents/{agent_id}", "PATCH"): ADMIN,
    ("/v1/agents/{agent_id}", "DELETE"): ADMIN,
    ("/v1/agents/{agent_id}/sightings", "GET"): ADMIN,
    ("/v1/agents/{agent_id}/test-sessions", "POST"): ADMIN,
    ("/v1/agents/{agent_id}/tools/{name}/test", "POST"): ADMIN,
    ("/v1/voice/twilio", "PUT"): ADMIN,
    ("/v1/voice/twilio", "GET"): ADMIN,
    ("/v1/calls", "GET"): ADMIN,
    ("/v1/calls/export", "GET"): ADMIN,
    ("/v1/calls/{call_sid}", "GET"): ADMIN,
    ("/v1/conversations", "GET"): ADMIN,
    ("/v1/conversations/export", "GET"): ADMIN,
    ("/v1/conversations/{conversation_id}", "GET"): ADMIN,
}

# Routes that issue, revoke or rotate keys: never with a key that is itself being replaced.
KEY_WRITES = frozenset(
    {("/v1/keys", "POST"), ("/v1/keys/{key_id}/revoke", "POST"), ("/v1/keys/{key_id}/rotate", "POST")}
)


def _route(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    method = WEBSOCKET if request.scope["type"] == "websocket" else request.method
    return path, "GET" if method == "HEAD" else method


def required(path: str, method: str) -> str:
    """The scope a route needs; a route missing from the table needs `admin` (closed by default)."""
    return ROUTE_SCOPES.get((path, method), ADMIN)


def check(request: Request, who: Caller) -> None:
    """Raise 403 `insufficient_scope` unless the caller's key may use the request's route."""
    route = _route(request)
    needed = required(*route)
    if needed == ADMIN and who.scope != ADMIN:
        raise ApiError(
            403,
            "insufficient_scope",
            f"this key's scope is {who.scope}; {route[1]} {route[0]} needs an admin key",
        )
    if route in KEY_WRITES and who.revoked_at is not None:
        raise ApiError(
            403,
            "insufficient_scope",
            "this key is being replaced (rotation grace period) and can no longer manage keys; "
            "use the key that replaced it",
        )
