"""The dashboard's home: the onboarding checklist until every step is done, then the tenant at a glance."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.dashboard import onboarding, views
from gateway.services import services
from projections.login_sessions import LoginSession


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def root(request: Request) -> Response:
    """`/`: the dashboard for a signed-in person, the sign-in page otherwise."""
    return RedirectResponse("/dashboard", status_code=303)


@views.page
async def home(request: Request, session: LoginSession) -> Response:
    facts = await onboarding.facts(services(request).pool, session.tenant_id, own_origin(request))
    steps = onboarding.steps(facts)
    done = sum(s.done for s in steps)
    return views.render(request, "home.html", {"steps": steps, "done": done, "facts": facts})
