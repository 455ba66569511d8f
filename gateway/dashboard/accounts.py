"""Sign-up, sign-in, sign-out and the password change: the pages that make or end a dashboard session.

Passwords are hashed with argon2id (argon2-cffi's defaults), off the event loop. A sign-up records the
tenant and its first user like any admin write (records with their audit entries, then read your
writes); a sign-in compares against the hash the projection holds. Signed-out forms carry a CSRF token
twice (a cookie and a field); signed-in forms carry the session's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.dashboard import passwords, views
from gateway.http.auth import CSRF_FIELD, SESSION_COOKIE, csrf_matches
from gateway.http.limits import refusal
from gateway.services import Services, services
from pipeline.admin import users
from pipeline.errors import ValidationError
from projections import login_sessions
from projections import users as store
from projections.login_sessions import LoginSession

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024


async def _form(request: Request) -> dict[str, str]:
    """The posted form's text fields (never files), bounded in size."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return {}
    async with request.form(max_files=0, max_fields=20, max_part_size=MAX_FORM_BYTES) as form:
        return {k: v for k, v in form.items() if isinstance(v, str)}


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _signed_out_page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = views.form_token(request)
    response = views.render(request, name, {"form_token": token, **context}, status=status)
    response.headers.update(headers or {})
    views.set_form_cookie(request, response, token)
    return response


def _form_ok(request: Request, form: dict[str, str]) -> bool:
    expected = request.cookies.get(views.FORM_COOKIE)
    return expected is not None and csrf_matches(expected, form.get(CSRF_FIELD))


def _expired_form(request: Request, name: str, context: dict[str, Any]) -> Response:
    error = "This form expired; please submit it again."
    return _signed_out_page(request, name, {**context, "error": error}, status=403)


async def _start(request: Request, svc: Services, user_id: str, tenant_id: str, target: str) -> Response:
    session = await login_sessions.start(svc.pool, user_id, tenant_id)
    response = RedirectResponse(target, status_code=303)
    views.set_session_cookie(request, response, session.token)
    response.delete_cookie(views.FORM_COOKIE, path="/")
    return response


# --- sign-up -----------------------------------------------------------------------------------


async def signup_page(request: Request) -> Response:
    svc = services(request)
    return _signed_out_page(
        request, "signup.html", {"open": svc.settings.signup_open, "values": {}, "errors": {}}
    )


async def signup(request: Request) -> Response:
    svc = services(request)
    if not svc.settings.signup_open:
        return _signed_out_page(
            request, "signup.html", {"open": False, "values": {}, "errors": {}}, status=403
        )
    form = await _form(request)
    values = {"organization": form.get("organization", ""), "email": form.get("email", "")}
    context: dict[str, Any] = {"open": True, "values": values, "errors": {}}
    if not _form_ok(request, form):
        return _expired_form(request, "signup.html", context)
    allowed = await svc.limits.login(None, _address(request))
    if not allowed.granted:
        return _too_many(request, "signup.html", context, allowed)
    try:
        address = users.email(form.get("email"))
        password = users.password(form.get("password"))
        organization = form.get("organization", "")
        users.organization(organization)
    except ValidationError as exc:
        context["errors"] = {exc.field or "form": exc.message}
        return _signed_out_page(request, "signup.html", context, status=400)
    if await svc.pool.fetchval(store.EMAIL_TAKEN, address) is not None:
        context["errors"] = {"email": "An account with this email exists: log in instead."}
        return _signed_out_page(request, "signup.html", context, status=409)
    made = users.sign_up(organization, address, await passwords.hashed(password), now=datetime.now(UTC))
    await svc.writer.publish([svc.writer.to_tenant(made.tenant), svc.writer.to_tenant(made.user)], made.trail)
    user_id = await svc.writer.wait_value(store.CREATED, address)
    if user_id is None:
        context["error"] = "Your account is being set up; log in in a minute."
        return _signed_out_page(request, "signup.html", context, status=202)
    if user_id != made.user.user_id:  # another sign-up took the address a moment earlier
        context["errors"] = {"email": "An account with this email exists: log in instead."}
        return _signed_out_page(request, "signup.html", context, status=409)
    log.info("tenant %s signed up (user %s)", made.tenant.tenant_id, user_id)
    return await _start(request, svc, user_id, made.tenant.tenant_id, "/dashboard")


# --- sign-in and sign-out ------------------------------------------------------------------------


def _too_many(request: Request, name: str, context: dict[str, Any], grant: Any) -> Response:
    error = refusal(grant, "attempts")
    return _signed_out_page(
        request, name, {**context, "error": f"Too many attempts; try again in {error.headers['Retry-After']} s."},
        status=429, headers=error.headers,
    )  # fmt: skip


async def login_page(request: Request) -> Response:
    context = {
        "values": {},
        "next": views.safe_next(request.query_params.get("next")),
        "open": services(request).settings.signup_open,
    }
    return _signed_out_page(request, "login.html", context)


async def login(request: Request) -> Response:
    svc = services(request)
    form = await _form(request)
    target = views.safe_next(form.get("next"))
    context: dict[str, Any] = {
        "values": {"email": form.get("email", "")},
        "next": target,
        "open": svc.settings.signup_open,
    }
    if not _form_ok(request, form):
        return _expired_form(request, "login.html", context)
    email = (form.get("email") or "").strip().lower()
    allowed = await svc.limits.login(email or None, _address(request))
    if not allowed.granted:
        return _too_many(request, "login.html", context, allowed)
    user = await store.by_email(svc.pool, email) if email else None
    matches = await passwords.matches(user.password_hash if user else None, form.get("password", ""))
    if user is None or not matches:
        context["error"] = "That email and password do not match an account."
        return _signed_out_page(request, "login.html", context, status=401)
    return await _start(request, svc, user.user_id, user.tenant_id, target)


async def logout(request: Request) -> Response:
    svc = services(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = await login_sessions.find(svc.pool, token) if token else None
    form = await _form(request)
    if session is not None and token is not None:
        if not csrf_matches(session.csrf_token, form.get(CSRF_FIELD)):
            return Response("This form expired; reload the page.", status_code=403, media_type="text/plain")
        await login_sessions.end(svc.pool, token)
    response = RedirectResponse("/login", status_code=303)
    views.clear_session_cookie(request, response)
    return response


# --- the password change -------------------------------------------------------------------------


@views.page
async def account_page(request: Request, session: LoginSession) -> Response:
    return views.render(request, "account.html", {"errors": {}, "done": False})


@views.page
async def change_password(request: Request, session: LoginSession) -> Response:
    svc = services(request)
    form = await _form(request)
    if not csrf_matches(session.csrf_token, form.get(CSRF_FIELD)):
        return views.render(
            request,
            "account.html",
            {"errors": {"form": "This form expired; submit it again."}, "done": False},
            status=403,
        )
    user = await store.by_id(svc.pool, session.user_id)
    if user is None or not await passwords.matches(user.password_hash, form.get("current_password", "")):
        return views.render(
            request,
            "account.html",
            {"errors": {"current_password": "That is not your current password."}, "done": False},
            status=400,
        )
    try:
        password = users.password(form.get("new_password"))
    except ValidationError as exc:
        return views.render(
            request, "account.html", {"errors": {"new_password": exc.message}, "done": False}, status=400
        )
    changed, trail = users.password_changed(
        user.tenant_id, user.user_id, await passwords.hashed(password), by=users.actor(user.user_id),
        now=datetime.now(UTC), request_id=request.state.request_id,
    )  # fmt: skip
    await svc.writer.publish([svc.writer.to_tenant(changed)], [trail])
    applied = await svc.writer.wait(store.PASSWORD_SET, user.user_id, changed.event_id)
    token = request.cookies.get(SESSION_COOKIE) or ""
    await login_sessions.end_others(svc.pool, user.user_id, token)
    return views.render(request, "account.html", {"errors": {}, "done": True, "pending": not applied})
