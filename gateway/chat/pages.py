"""The embeddable widget's script (`GET /widget.js`) and the hosted chat page (`GET /chat/{agent_id}`)."""

from __future__ import annotations

import functools
import gzip
import hashlib
from html import escape
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.services import services
from pipeline.assistants.allowlist import frame_ancestors
from projections.chat.assistants import load_public

# Host pages cache the script for a while, then revalidate it cheaply with the ETag.
_SCRIPT_CACHE = "public, max-age=300, stale-while-revalidate=86400"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body>
<noscript>This chat needs JavaScript.</noscript>
<script src="/widget.js" data-agent="{agent_id}" data-mode="page"></script>
</body>
</html>
"""

_NOT_FOUND = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Assistant not found</title></head>
<body><p>This assistant does not exist.</p></body>
</html>
"""


@functools.cache
def _script() -> tuple[bytes, bytes, str]:
    """The script, gzipped once, and its ETag: read on first use (never at import time)."""
    body = resources.files("gateway").joinpath("static", "widget.js").read_bytes()
    return body, gzip.compress(body, mtime=0), '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _security(frame_policy: str) -> dict[str, str]:
    """Headers for the hosted page: only the allowlisted sites may frame it, only our script runs."""
    return {
        "Content-Security-Policy": (
            f"frame-ancestors {frame_policy}; script-src 'self'; object-src 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cache-Control": "no-store",
    }


async def widget_js(request: Request) -> Response:
    """The widget script; any site may load it, the session endpoint decides who may chat."""
    body, zipped, etag = _script()
    headers = {
        "ETag": etag,
        "Cache-Control": _SCRIPT_CACHE,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = zipped, "gzip"
    return Response(body, headers=headers, media_type="application/javascript; charset=utf-8")


async def chat_page(request: Request) -> Response:
    """The agent's chat, full page, for iframe embedding on the agent's allowlisted sites."""
    agent_id = request.path_params["agent_id"]
    agent = await load_public(services(request).pool, agent_id)
    if agent is None:
        return HTMLResponse(_NOT_FOUND, status_code=404, headers=_security("'none'"))
    page = _PAGE.format(
        title=escape(agent.branding.title or agent.name), agent_id=escape(agent.agent_id, quote=True)
    )
    return HTMLResponse(page, headers=_security(frame_ancestors(agent.allowed_domains)))
