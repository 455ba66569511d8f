"""POST /v1/agents/{agent_id}/tools/{name}/test: one signed call of an agent's tool, made exactly as a
chat turn makes it (the tools' own client and its address rules, the signature, the timeout and the
64 KiB cap), answered with the request sent and the answer received, or the error. Nothing is recorded:
the call changes nothing in Revos (what the tool does with it is the tool's affair; its context says
`"test": true`)."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.chat.tools import ToolExchange, exchange, tool_context
from gateway.http.body import read_json
from gateway.http.errors import not_found
from gateway.http.responses import json_response
from gateway.services import caller
from pipeline.assistants import tools
from pipeline.assistants.tool_secrets import SecretUnreadable, opened_tool
from projections.chat import assistants as store

log = logging.getLogger(__name__)

TEST_CONVERSATION = "test"  # the conversation and visitor a test call's context names


def _headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Headers as one object; a name sent twice has its values joined with ", " (as HTTP allows)."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def _shown(name: str, done: ToolExchange, duration_ms: int) -> dict[str, Any]:
    sent, answer = done.request, done.answer
    return {
        "tool": name,
        "ok": done.error is None,
        "error": done.error,
        "result": done.result.content,  # what a model would be given
        "request": None
        if sent is None
        else {
            "method": "POST",
            "url": sent.url,
            "headers": _headers(sent.headers),
            "body": sent.body.decode(),
        },
        "response": None
        if answer is None
        else {
            "status": answer.status,
            "headers": _headers(answer.headers),
            "body": answer.body,
            "truncated": answer.truncated,
        },
        "duration_ms": duration_ms,
    }


async def test_tool(request: Request) -> Response:
    svc, who = await caller(request)
    agent_id, name = request.path_params["agent_id"], request.path_params["name"]
    stored = await store.find(svc.pool, who.tenant_id, agent_id)
    if stored is None:  # absent, deleted, or another tenant's
        raise not_found("agent")
    tool = next((t for t in stored.assistant.tools if t.name == name), None)
    if tool is None:
        raise not_found("tool")
    arguments = tools.arguments_to_test(await read_json(request, optional=True))
    context = tool_context(
        who.tenant_id, agent_id, TEST_CONVERSATION, visitor_id=TEST_CONVERSATION, test=True
    )
    started = time.monotonic()
    try:
        opened = opened_tool(svc.secrets, who.tenant_id, agent_id, tool)
    except SecretUnreadable as exc:
        log.error("%s", exc)
        done = ToolExchange(None, None, "the tool's secret cannot be read; set it again")
    else:
        done = await exchange(
            opened, orjson.dumps(arguments).decode(), client=svc.http, context=context, read_failed=True
        )
    return json_response(_shown(name, done, round((time.monotonic() - started) * 1000)))
