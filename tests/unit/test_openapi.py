"""The OpenAPI document describes every API route the gateway serves, with the same methods."""

from __future__ import annotations

import re

from gateway.app import ROUTES
from gateway.dashboard import routes as dashboard
from gateway.openapi import OPENAPI

# The dashboard's HTML pages are for people, not part of the API.
UNDOCUMENTED = {"/metrics", "/openapi.json"} | {route.path for route in dashboard.ROUTES}


def test_every_route_and_method_is_in_the_openapi_document() -> None:
    served = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())  # OpenAPI has no converters
        for route in ROUTES
        for method in (getattr(route, "methods", None) or ())  # websocket routes have none
        if method != "HEAD" and route.path not in UNDOCUMENTED
    }
    documented = {(path, method) for path, ops in OPENAPI["paths"].items() for method in ops}
    assert served == documented
