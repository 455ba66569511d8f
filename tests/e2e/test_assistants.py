"""Agents (AI assistants) through the API, and conversation history fed by real chat records."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from e2e_stack import Stack, eventually

from infra.kafka import KafkaPublisher
from infra.key_files import read_key
from pipeline.assistants.templates import TEMPLATES
from pipeline.assistants.tool_secrets import SecretBox
from pipeline.codec import default_codec
from pipeline.publishing import Outgoing
from pipeline.records import ChatMessageRecorded
from pipeline.topics import CHAT, conversation_key

SECRET = "tool-secret-0123456789"
OTHER_SECRET = "second-secret-9876543210"
TOOL = {
    "name": "lookup_order",
    "description": "Find an order by id",
    "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    "url": "https://tools.example.com/orders",
    "secret": SECRET,
}


def shown_tool(**changes: Any) -> dict[str, Any]:
    tool = {k: v for k, v in TOOL.items() if k != "secret"}
    return {**tool, "timeout_seconds": 10.0, "secret_set": True, **changes}


async def test_agents_crud_keeps_secrets_audits_each_write_and_isolates_tenants(stack: Stack) -> None:
    tenant = await stack.create_tenant("acme")
    other = await stack.create_tenant("other")
    support = TEMPLATES["support"]
    async with stack.client(tenant["api_key"]) as api:
        created = await api.post(
            "/v1/agents",
            json={
                "name": "Support bot",
                "customer": "cus_1",
                "template": "support",
                "tools": [TOOL],
                "allowed_domains": ["Shop.Example.com", "*.example.org"],
                "branding": {"primary_color": "#112233", "title": "Help"},
            },
        )
        assert created.status_code == 201, created.text
        assert SECRET not in created.text
        agent = created.json()
        agent_id = agent["agent_id"]
        assert agent_id.startswith("agt_") and len(agent_id) == 36
        assert agent["created_at"] == agent["updated_at"]
        expected = {
            "agent_id": agent_id,
            "name": "Support bot",
            "customer": "cus_1",
            "template": "support",
            "system_prompt": support.system_prompt,
            "model": "openrouter/auto",
            "fallback_models": [],
            "temperature": None,
            "tools": [shown_tool()],
            "allowed_domains": ["shop.example.com", "*.example.org"],
            "branding": {"logo_url": None, "primary_color": "#112233", "title": "Help",
                         "greeting": support.greeting, "suggestions": list(support.suggestions)},
            "voice": None,
            "created_at": agent["created_at"],
            "updated_at": agent["created_at"],
        }  # fmt: skip
        assert agent == {**expected, "status": "applied"}

        got = await api.get(f"/v1/agents/{agent_id}")
        assert got.status_code == 200 and got.json() == expected and SECRET not in got.text
        listed = await api.get("/v1/agents")
        assert listed.json() == {"agents": [expected]} and SECRET not in listed.text

        # A PATCH replaces the fields given; a tool named again without its secret keeps the secret.
        second_tool = {**TOOL, "name": "refund", "secret": OTHER_SECRET, "timeout_seconds": 5}
        kept_tool = {k: v for k, v in TOOL.items() if k != "secret"}
        patched = await api.patch(
            f"/v1/agents/{agent_id}",
            json={"name": "Support bot 2", "temperature": 0.5, "tools": [kept_tool, second_tool]},
        )
        assert patched.status_code == 200, patched.text
        assert SECRET not in patched.text and OTHER_SECRET not in patched.text
        after_patch = {
            **expected,
            "name": "Support bot 2",
            "temperature": 0.5,
            "tools": [shown_tool(), shown_tool(name="refund", timeout_seconds=5.0)],
            "updated_at": patched.json()["updated_at"],
        }
        assert patched.json() == {**after_patch, "status": "applied"}
        assert datetime.fromisoformat(patched.json()["updated_at"]) > datetime.fromisoformat(
            agent["created_at"]
        )
        stored = await stack_tools(stack, agent_id)
        assert stored == {"lookup_order": SECRET, "refund": OTHER_SECRET}
        assert (await api.get(f"/v1/agents/{agent_id}")).json() == after_patch

        # Refusals write nothing.
        for body, code in (
            ({"tools": [{**kept_tool, "name": "new_tool"}]}, "invalid_tools"),
            ({"allowed_domains": ["https://shop.example.com"]}, "invalid_allowed_domains"),
            ({"template": "legal"}, "invalid_template"),
            ({"colour": "red"}, "unknown_field"),
        ):
            refused = await api.patch(f"/v1/agents/{agent_id}", json=body)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code)
        missing = await api.post("/v1/agents", json={"customer": "cus_1"})
        assert (missing.status_code, missing.json()["error"]["code"]) == (400, "invalid_name")

    async with stack.client(other["api_key"]) as api:
        assert (await api.get("/v1/agents")).json() == {"agents": []}
        for method in ("GET", "PATCH", "DELETE"):
            answer = await api.request(method, f"/v1/agents/{agent_id}", json={"name": "x"})
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "agent_not_found"), method
        assert await stack_tools(stack, agent_id) == {"lookup_order": SECRET, "refund": OTHER_SECRET}

    async with stack.client(tenant["api_key"]) as api:
        deleted = await api.delete(f"/v1/agents/{agent_id}")
        assert deleted.status_code == 200
        assert deleted.json() == {"agent_id": agent_id, "deleted": True, "status": "applied"}
        for method in ("GET", "PATCH", "DELETE"):
            answer = await api.request(method, f"/v1/agents/{agent_id}", json={"name": "x"})
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "agent_not_found"), method
        assert (await api.get("/v1/agents")).json() == {"agents": []}

        async def trail() -> list[dict[str, Any]] | None:
            answer = await api.get("/v1/audit", params={"target": f"agent:{agent_id}"})
            found: list[dict[str, Any]] = answer.json()["entries"]
            return found if len(found) >= 3 else None

        entries = await eventually(trail, what="three agent audit entries")
        text = orjson.dumps(entries).decode()
        assert SECRET not in text and OTHER_SECRET not in text
        assert [e["action"] for e in entries] == ["agent.create", "agent.update", "agent.delete"]
        assert {e["actor"] for e in entries} == {f"key:{tenant['key_id']}"}
        public = {k: v for k, v in expected.items() if k not in ("created_at", "updated_at")}
        public_after = {k: v for k, v in after_patch.items() if k not in ("created_at", "updated_at")}
        assert (entries[0]["before"], entries[0]["after"]) == (None, public)
        assert (entries[1]["before"], entries[1]["after"]) == (public, public_after)
        assert (entries[2]["before"], entries[2]["after"]) == (public_after, None)


async def stack_tools(stack: Stack, agent_id: str) -> dict[str, str]:
    """The tool secrets the projection keeps (the API never shows them), sealed, opened with the key."""
    assert stack.pool is not None
    row = await stack.pool.fetchrow(
        "SELECT tenant_id, tools::text FROM assistants WHERE agent_id = $1", agent_id
    )
    box, where = SecretBox(read_key(stack.home / "secrets.key")), f"{row['tenant_id']}/{agent_id}"
    tools = orjson.loads(row["tools"])
    assert all(t["secret"].startswith("enc:v1:") for t in tools)
    return {t["name"]: box.open(t["secret"], where) for t in tools}


# --- conversations ------------------------------------------------------------------------------

T = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


def at(seconds: int) -> datetime:
    return T + timedelta(seconds=seconds)


def message(
    tenant_id: str, agent_id: str, conversation_id: str, seq: int, seconds: int, role: str, content: str,
    **extra: Any,
) -> ChatMessageRecorded:  # fmt: skip
    return ChatMessageRecorded(
        message_id=f"{conversation_id}:{seq}",
        tenant_id=tenant_id,
        agent_id=agent_id,
        conversation_id=conversation_id,
        seq=seq,
        role=role,
        content=content,
        status=extra.pop("status", "complete"),
        occurred_at=at(seconds),
        **extra,
    )


def rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def exported(r: ChatMessageRecorded) -> dict[str, Any]:
    return {"conversation_id": r.conversation_id, "seq": r.seq, "role": r.role, "status": r.status,
            "content": r.content, "model": r.model, "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens, "occurred_at": rfc3339(r.occurred_at), "agent_id": r.agent_id}  # fmt: skip


def as_csv_row(r: ChatMessageRecorded) -> list[str]:
    return ["" if v is None else str(v) for v in exported(r).values()]


async def produce(stack: Stack, records: list[ChatMessageRecorded]) -> None:
    codec = default_codec()
    publisher = KafkaPublisher(stack.settings.bootstrap_servers)
    await publisher.start()
    try:
        await publisher.publish(
            [
                Outgoing(CHAT, codec.encode(r), key=conversation_key(r.tenant_id, r.conversation_id))
                for r in records
            ]
        )
    finally:
        await publisher.stop()


async def test_conversation_history_lists_pages_and_exports_from_chat_records(stack: Stack) -> None:
    tenant = await stack.create_tenant("acme")
    other = await stack.create_tenant("other")
    a, b, x = "agt_" + "a" * 32, "agt_" + "b" * 32, "agt_" + "c" * 32
    ten, oth = tenant["tenant_id"], other["tenant_id"]
    tricky = 'Hi, "friend"\nsecond line'
    c1 = [
        message(ten, a, "c1", 1, 0, "user", tricky, client_message_id="m1", visitor_id="vis_1",
                origin="https://shop.example.com"),
        message(ten, a, "c1", 2, 1, "assistant", "Hello!", reply_to=1, model="offline", latency_ms=40,
                first_token_ms=5, input_tokens=12, output_tokens=3,
                tool_calls='[{"id": "call_1", "type": "function"}]'),
        message(ten, a, "c1", 3, 2, "tool", '{"ok": true}', reply_to=1, tool_name="lookup",
                tool_call_id="call_1"),
        message(ten, a, "c1", 4, 3, "assistant", "Sorry", reply_to=1, status="interrupted"),
    ]  # fmt: skip
    c2 = [
        message(ten, b, "c2", 1, 10, "user", "Price?", client_message_id="m2"),
        message(ten, b, "c2", 2, 11, "assistant", "Out of credits", reply_to=1, status="unavailable"),
    ]
    c3 = [message(ten, a, "c3", 1, 20, "user", '=HYPERLINK("https://evil.example","Later")')]
    # Another tenant's long conversation: its export spans several pages of the server's query.
    big = [message(oth, x, "cx", i, 30 + i // 100, "user", f"m{i}") for i in range(1, 2101)]
    redelivered = message(ten, a, "c1", 2, 1, "assistant", "a second copy changes nothing")
    # c1's redelivered copy travels between seq 2 and seq 4 on c1's partition, so seeing 4 means seen it.
    await produce(stack, [*c1[:3], redelivered, c1[3], *c2, *c3, *big])

    async with stack.client(tenant["api_key"]) as api, stack.client(other["api_key"]) as theirs:

        async def projected() -> bool:
            mine = (await api.get("/v1/conversations")).json()["conversations"]
            others = (await theirs.get("/v1/conversations")).json()["conversations"]
            return [(c["conversation_id"], c["last_seq"]) for c in mine] == [
                ("c3", 1),
                ("c2", 2),
                ("c1", 4),
            ] and [(c["conversation_id"], c["last_seq"]) for c in others] == [("cx", 2100)]

        await eventually(projected, what="the chat projection", timeout=60)

        listed = (await api.get("/v1/conversations")).json()
        assert listed["next_cursor"] is None
        assert listed["conversations"][2] == {
            "conversation_id": "c1", "agent_id": a, "visitor_id": "vis_1", "origin": "https://shop.example.com",
            "started_at": rfc3339(at(0)), "last_message_at": rfc3339(at(3)), "last_seq": 4,
        }  # fmt: skip

        async def ids(**params: Any) -> list[str]:
            answer = await api.get("/v1/conversations", params=params)
            assert answer.status_code == 200, answer.text
            return [c["conversation_id"] for c in answer.json()["conversations"]]

        assert await ids(agent_id=a) == ["c3", "c1"]
        assert await ids(agent_id=b) == ["c2"]
        assert await ids(agent_id=x) == []
        assert await ids(since=rfc3339(at(5))) == ["c3", "c2"]
        assert await ids(until=rfc3339(at(20))) == ["c2", "c1"]
        assert await ids(since=rfc3339(at(10)), until=rfc3339(at(11))) == ["c2"]

        pages, cursor = [], None
        while True:
            params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/v1/conversations", params=params)).json()
            pages.append([c["conversation_id"] for c in page["conversations"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == [["c3"], ["c2"], ["c1"]]
        two = (await api.get("/v1/conversations", params={"limit": 2, "agent_id": a})).json()
        assert [c["conversation_id"] for c in two["conversations"]] == ["c3", "c1"] and two[
            "next_cursor"
        ] is None

        for params, code in (
            ({"since": "yesterday"}, "invalid_time"),
            ({"until": "2025-01-01T00:00:00"}, "invalid_time"),
            ({"since": rfc3339(at(5)), "until": rfc3339(at(1))}, "invalid_time"),
            ({"limit": "0"}, "invalid_limit"),
            ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ):
            refused = await api.get("/v1/conversations", params=params)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), params

        detail = (await api.get("/v1/conversations/c1")).json()
        assert detail["conversation_id"] == "c1" and detail["last_seq"] == 4
        assert [m["seq"] for m in detail["messages"]] == [1, 2, 3, 4]
        assert detail["messages"][1] == {
            "seq": 2, "message_id": "c1:2", "role": "assistant", "content": "Hello!", "status": "complete",
            "client_message_id": None, "reply_to": 1, "model": "offline", "latency_ms": 40,
            "first_token_ms": 5, "input_tokens": 12, "output_tokens": 3,
            "tool_calls": [{"id": "call_1", "type": "function"}], "tool_name": None, "tool_call_id": None,
            "occurred_at": rfc3339(at(1)),
        }  # fmt: skip
        assert [(m["role"], m["content"], m["status"]) for m in detail["messages"]] == [
            ("user", tricky, "complete"), ("assistant", "Hello!", "complete"),
            ("tool", '{"ok": true}', "complete"), ("assistant", "Sorry", "interrupted"),
        ]  # fmt: skip
        assert (
            detail["messages"][2]["tool_name"] == "lookup"
            and detail["messages"][0]["client_message_id"] == "m1"
        )

        for who, conversation_id in ((api, "cx"), (theirs, "c1"), (api, "nope")):
            missing = await who.get(f"/v1/conversations/{conversation_id}")
            assert (missing.status_code, missing.json()["error"]["code"]) == (404, "conversation_not_found")

        # The export: every message of the range, oldest first, as a JSON array or CSV.
        everything = [*c1, *c2, *c3]
        as_json = await api.get("/v1/conversations/export", params={"format": "json"})
        assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
        assert as_json.json() == [exported(r) for r in everything]
        default = await api.get("/v1/conversations/export")  # not taken for a conversation id
        assert default.json() == as_json.json()
        ranged = await api.get(
            "/v1/conversations/export",
            params={"since": rfc3339(at(1)), "until": rfc3339(at(11)), "agent_id": a},
        )
        assert ranged.json() == [exported(r) for r in c1[1:]]
        empty = await api.get("/v1/conversations/export", params={"agent_id": x})
        assert empty.status_code == 200 and empty.content == b"[]"

        as_csv = await api.get("/v1/conversations/export", params={"format": "csv", "agent_id": a})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert as_csv.headers["content-disposition"] == 'attachment; filename="conversations.csv"'
        header = (
            "conversation_id,seq,role,status,content,model,input_tokens,output_tokens,occurred_at,agent_id"
        )
        assert as_csv.text.startswith(
            header + "\r\n" + 'c1,1,user,complete,"Hi, ""friend""\nsecond line",,,,'
        )
        rows = list(csv.reader(io.StringIO(as_csv.text)))
        assert rows[1:-1] == [as_csv_row(r) for r in c1]
        # A visitor's formula reaches a spreadsheet as text: OWASP's leading quote for CSV injection.
        assert rows[-1][4] == "'" + c3[0].content and rows[-1][:4] == ["c3", "1", "user", "complete"]
        only_header = await api.get("/v1/conversations/export", params={"format": "csv", "agent_id": x})
        assert only_header.text == header + "\r\n"

        for params, code in (
            ({"format": "xml"}, "invalid_format"),
            ({"since": "soon"}, "invalid_time"),
            ({"format": "csv", "until": "2025-13-01T00:00:00Z"}, "invalid_time"),
        ):
            refused = await api.get("/v1/conversations/export", params=params)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), params

        long = await theirs.get("/v1/conversations/export", params={"format": "json"})
        assert long.json() == [exported(r) for r in big]
        long_csv = await theirs.get("/v1/conversations/export", params={"format": "csv"})
        assert list(csv.reader(io.StringIO(long_csv.text)))[1:] == [as_csv_row(r) for r in big]
