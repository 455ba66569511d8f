"""What every dashboard page shares: the templates, the signed-in check, cookies and the static files."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from gateway.http.auth import CSRF_FIELD, SESSION_COOKIE
from gateway.services import services
from pipeline.money import format_decimal
from projections import login_sessions
from projections.login_sessions import LoginSession

FORM_COOKIE = "revos_form"  # the signed-out forms' CSRF token (double submit: cookie and field)
# Strict: no other site's page gets a look at the dashboard's headers or frames.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
        "connect-src 'self' ws: wss:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "agent-preview.js": "text/javascript; charset=utf-8",
    "customers.js": "text/javascript; charset=utf-8",
    "previews.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    # uPlot (MIT, from npm, unmodified): the usage page's chart library, with its licence.
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
    "uPlot.LICENSE": "text/plain; charset=utf-8",
}


def decimal(value: Decimal | str | None) -> str:
    """Money and quantities exactly as the API writes them (never through a float)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else format_decimal(value)


def time_tag(value: datetime | None) -> Markup:
    """A time as people read it, in UTC to the second; a narrow column breaks it between date and time."""
    if value is None:
        return Markup("")
    at = value.astimezone(UTC)
    return Markup('<time datetime="{}"><span>{}</span> <span>{}</span></time>').format(
        at.isoformat(), at.strftime("%Y-%m-%d"), at.strftime("%H:%M:%S UTC")
    )


def segment(value: str) -> str:
    """An identifier as one URL path segment: every reserved character escaped, '/' included."""
    return quote(value, safe="")


@functools.cache
def templates() -> Jinja2Templates:
    loader = jinja2.PackageLoader("gateway.dashboard", "templates")
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["static"] = static_url
    env.filters["when"] = when
    env.filters.update(decimal=decimal, time_tag=time_tag, segment=segment)
    return Jinja2Templates(env=env)


def when(moment: datetime | None) -> str:
    """A time as the pages show it: to the second, in UTC."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.cache
def _static(name: str) -> tuple[bytes, str]:
    body = resources.files("gateway.dashboard").joinpath("static", name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:16]


def static_url(name: str) -> str:
    """The URL of a static file, versioned by its content so browsers may cache it for good."""
    return f"/dashboard/static/{name}?v={_static(name)[1]}"


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    body, _ = _static(name)
    cache = "public, max-age=31536000, immutable" if request.query_params.get("v") else "no-cache"
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=STATIC[name], headers=headers)


def secure(request: Request) -> bool:
    """Cookies are `Secure` when the page was served over https (directly, or behind a trusted proxy)."""
    return request.url.scheme == "https"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    """A page, with the signed-in user (if any), the CSRF token its forms carry, and strict headers."""
    login: LoginSession | None = getattr(request.state, "login", None)
    values: dict[str, Any] = {
        "login": login,
        "csrf": login.csrf_token if login else "",
        "path": request.url.path,
        "error": "",
        "errors": {},
    }
    values.update(context or {})
    return templates().TemplateResponse(request, name, values, status_code=status, headers=SECURITY_HEADERS)


@dataclass(frozen=True, slots=True)
class SignedOut:
    """A page of someone not signed in: where they are sent."""

    redirect: Response


async def signed_in(request: Request) -> LoginSession | SignedOut:
    """The session of the request's cookie, or a redirect to the sign-in page that comes back here."""
    token = request.cookies.get(SESSION_COOKIE)
    session = await login_sessions.find(services(request).pool, token) if token else None
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return SignedOut(RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303))
    request.state.login = session
    return session


Page = Callable[[Request, LoginSession], Awaitable[Response]]


def page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in page: the handler gets the session; anyone else is sent to sign in first."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        session = await signed_in(request)
        if isinstance(session, SignedOut):
            return session.redirect
        return await handler(request, session)

    return route


def not_found(request: Request, what: str) -> Response:
    """The page for something that does not exist, or is another tenant's: the two look the same."""
    return render(request, "not_found.html", {"what": what}, status=404)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(login_sessions.LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))


def form_token(request: Request) -> str:
    """The signed-out forms' CSRF token: the one in the request's cookie, or a new one."""
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)


def set_form_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        FORM_COOKIE, token, path="/", httponly=True, samesite="strict", secure=secure(request)
    )


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: a dashboard path of this site, never another site."""
    if raw and raw.startswith("/dashboard") and "//" not in raw and "\\" not in raw:
        return raw
    return "/dashboard"


__all__ = ["CSRF_FIELD"]
