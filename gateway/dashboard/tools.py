"""An agent's tools page: its tools, and forms that add, change and delete them and send a signed test
call.

The API keeps tools inside the agent (`PATCH /v1/agents/{agent_id}` with the whole `tools` list), so
each form carries every other tool as hidden fields without its secret: a tool named without `secret`
keeps the one stored, and editing one tool never loses the others'. A new tool's secret is made here
and shown once, after the tool is saved, from what the form sent (the API never returns it). The test
call is `POST /v1/agents/{agent_id}/tools/{name}/test`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.dashboard import views
from gateway.services import services
from pipeline.assistants.tools import MAX_TIMEOUT, MAX_TOOLS, MIN_SECRET
from pipeline.records import AssistantTool
from projections.chat import assistants
from projections.login_sessions import LoginSession

# A value of each JSON Schema type, to start a test call's arguments from.
EXAMPLES: dict[str, Any] = {
    "string": "",
    "number": 0,
    "integer": 0,
    "boolean": False,
    "array": [],
    "object": {},
}


@dataclass(frozen=True, slots=True)
class ToolView:
    name: str
    description: str
    url: str
    timeout_seconds: float
    parameters: str  # the JSON Schema, compact as stored (hidden fields carry it back unchanged)
    parameters_pretty: str
    example: str  # arguments to start a test call from


def example_arguments(parameters: dict[str, Any]) -> dict[str, Any]:
    """An arguments object with each property of the schema, holding an empty value of its type."""
    properties = parameters.get("properties")
    if not isinstance(properties, dict):
        return {}
    return {
        name: EXAMPLES.get(str(spec.get("type")), "") if isinstance(spec, dict) else ""
        for name, spec in properties.items()
    }


def _view(t: AssistantTool) -> ToolView:
    schema = orjson.loads(t.parameters)
    indent = orjson.OPT_INDENT_2
    return ToolView(
        name=t.name, description=t.description, url=t.url, timeout_seconds=t.timeout_seconds,
        parameters=t.parameters, parameters_pretty=orjson.dumps(schema, option=indent).decode(),
        example=orjson.dumps(example_arguments(schema), option=indent).decode(),
    )  # fmt: skip


def new_secret() -> str:
    """A signing secret for a new tool: 256 random bits."""
    return "whsec_" + secrets.token_urlsafe(32)


@views.page
async def tools_page(request: Request, session: LoginSession) -> Response:
    agent_id = request.path_params["agent_id"]
    stored = await assistants.find(services(request).pool, session.tenant_id, agent_id)
    if stored is None:
        return views.not_found(request, "agent")
    context = {
        "agent": stored.assistant,
        "tools": [_view(t) for t in stored.assistant.tools],
        "secret": new_secret(),
        "max_tools": MAX_TOOLS,
        "max_timeout": MAX_TIMEOUT,
        "min_secret": MIN_SECRET,
        "example_schema": '{\n  "type": "object",\n  "properties": {"order_id": {"type": "string"}},\n  "required": ["order_id"]\n}',
    }
    return views.render(request, "tools/list.html", context)


ROUTES: list[BaseRoute] = [Route("/dashboard/agents/{agent_id}/tools", tools_page, methods=["GET"])]
