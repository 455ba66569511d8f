"""Every route of the gateway names the key scope it needs, so a new route cannot forget to."""

from __future__ import annotations

from starlette.routing import Route, WebSocketRoute

from gateway.app import ROUTES
from gateway.http.scopes import ADMIN, INGEST, PUBLIC, ROUTE_SCOPES, WEBSOCKET, required


def _app_routes() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in ROUTES:
        if isinstance(route, WebSocketRoute):
            found.add((route.path, WEBSOCKET))
        else:
            assert isinstance(route, Route), (
                f"{route!r}: teach this test (and gateway/http/scopes.py) its kind"
            )
            found |= {(route.path, m) for m in route.methods or () if m != "HEAD"}  # HEAD is GET's
    return found


def test_every_route_of_the_app_is_in_the_scope_table_and_nothing_else_is() -> None:
    routes = _app_routes()
    assert routes - ROUTE_SCOPES.keys() == set(), "routes without a scope: add them to gateway/http/scopes.py"
    assert ROUTE_SCOPES.keys() - routes == set(), "scopes of routes the app does not have"


def test_an_ingest_key_may_meter_usage_and_read_balances_and_nothing_more() -> None:
    assert {route for route, scope in ROUTE_SCOPES.items() if scope == INGEST} == {
        ("/v1/events", "POST"),
        ("/v1/check", "POST"),
        ("/v1/holds/{hold_id}", "DELETE"),
        ("/v1/customers/{customer}/balance", "GET"),
        ("/v1/customers/{customer}/entitlements", "GET"),
    }


def test_keys_and_admin_state_need_admin_and_an_unknown_route_does_too() -> None:
    for route in (("/v1/keys", "POST"), ("/v1/keys", "GET"), ("/v1/agents", "POST"), ("/v1/audit", "GET")):
        assert required(*route) == ADMIN
    assert required("/v1/something-new", "POST") == ADMIN
    assert required("/healthz", "GET") == PUBLIC
