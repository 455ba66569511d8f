"""The dashboard's routes (HTML pages; the API they drive lives under /v1)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gateway.dashboard import (
    accounts,
    agents,
    audit,
    burn_tables,
    calls,
    conversations,
    customers,
    dead_letters,
    home,
    keys,
    tools,
    usage,
    views,
)

ROUTES: list[BaseRoute] = [
    Route("/", home.root, methods=["GET"]),
    Route("/signup", accounts.signup_page, methods=["GET"]),
    Route("/signup", accounts.signup, methods=["POST"]),
    Route("/login", accounts.login_page, methods=["GET"]),
    Route("/login", accounts.login, methods=["POST"]),
    Route("/logout", accounts.logout, methods=["POST"]),
    Route("/dashboard", home.home, methods=["GET"]),
    Route("/dashboard/account", accounts.account_page, methods=["GET"]),
    Route("/dashboard/account", accounts.change_password, methods=["POST"]),
    *agents.ROUTES,
    *keys.ROUTES,
    *conversations.ROUTES,
    *calls.ROUTES,
    *audit.ROUTES,
    *tools.ROUTES,
    *burn_tables.ROUTES,
    *dead_letters.ROUTES,
    Route("/dashboard/static/{name}", views.static_file, methods=["GET"]),
    *customers.ROUTES,
    *usage.ROUTES,
]
