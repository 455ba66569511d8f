"""Assistants' pure core: validation into records, templates, PATCH semantics, and the domain allowlist."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from pipeline.assistants import model as assistants
from pipeline.assistants.allowlist import entry_for, frame_ancestors, origin_allowed
from pipeline.assistants.branding import MAX_SUGGESTIONS
from pipeline.assistants.model import Assistant, create, delete, from_record, update
from pipeline.assistants.templates import TEMPLATES
from pipeline.codec import default_codec
from pipeline.errors import ValidationError
from pipeline.records import AssistantBranding, AssistantChanged, AssistantTool

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 1, 12, 5, tzinfo=UTC)
SECRET = "s3cret-s3cret-s3cret"
TOOL = {"name": "lookup_order", "description": "Find an order", "url": "https://api.example.com/orders",
        "secret": SECRET, "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}  # fmt: skip


def made(body: dict[str, Any]) -> AssistantChanged:
    return create(body, tenant_id="ten_1", agent_id="agt_1", actor="key:k1", now=T0)


def patched(current: AssistantChanged, body: dict[str, Any]) -> AssistantChanged:
    return update(body, current=from_record(current), actor="key:k2", now=T1)


def code_of(body: object, current: AssistantChanged | None = None) -> tuple[str, str | None]:
    with pytest.raises(ValidationError) as caught:
        if current is None:
            made(body)  # type: ignore[arg-type]
        else:
            patched(current, body)  # type: ignore[arg-type]
    return caught.value.code, caught.value.field


# --- creation and defaults ----------------------------------------------------------------------


def test_a_minimal_agent_gets_the_defaults() -> None:
    r = made({"name": "Helper", "customer": "cus_1"})
    assert r == AssistantChanged(
        event_id=r.event_id,
        tenant_id="ten_1",
        agent_id="agt_1",
        action="created",
        name="Helper",
        system_prompt=assistants.DEFAULT_PROMPT,
        model="openrouter/auto",
        fallback_models=[],
        temperature=None,
        tools=(),
        allowed_domains=[],
        branding=AssistantBranding(),
        customer="cus_1",
        template=None,
        actor="key:k1",
        occurred_at=T0,
    )
    assert r.event_id.startswith("evt_")


def test_every_field_is_taken_as_given() -> None:
    r = made(
        {
            "name": "Shop helper",
            "customer": "cus_9",
            "system_prompt": "Be brief.",
            "model": "openai/gpt-4o-mini",
            "fallback_models": ["meta/llama-3", "mistral/small"],
            "temperature": 0.3,
            "tools": [{**TOOL, "timeout_seconds": 5}],
            "allowed_domains": ["Shop.Example.com", "*.example.org", "shop.example.com"],
            "branding": {
                "logo_url": "https://cdn.example.com/l.png",
                "primary_color": "#0055FF",
                "title": "Help",
                "greeting": "Hello",
                "suggestions": ["Hours?"],
            },
        }
    )
    assert (r.name, r.customer, r.system_prompt, r.model) == (
        "Shop helper", "cus_9", "Be brief.", "openai/gpt-4o-mini"
    )  # fmt: skip
    assert r.fallback_models == ["meta/llama-3", "mistral/small"] and r.temperature == 0.3
    assert r.tools == (
        AssistantTool("lookup_order", "Find an order",
                      '{"type":"object","properties":{"id":{"type":"string"}}}',
                      "https://api.example.com/orders", SECRET, 5.0),
    )  # fmt: skip
    # Lowercased and deduplicated, first mention kept.
    assert r.allowed_domains == ["shop.example.com", "*.example.org"]
    assert r.branding == AssistantBranding(
        "https://cdn.example.com/l.png", "#0055FF", "Help", "Hello", ["Hours?"]
    )


@pytest.mark.parametrize("url", ["http://localhost:9000/hook", "http://127.0.0.1/x", "http://[::1]:8/x"])
def test_a_tool_on_this_machine_may_use_plain_http(url: str) -> None:
    # Reachable only with REVOS_TOOLS_ALLOW_PRIVATE=true (local development): nothing crosses a network.
    (made_tool,) = made({"name": "a", "customer": "c", "tools": [{**TOOL, "url": url}]}).tools
    assert made_tool.url == url


def test_a_plain_http_tool_is_refused_with_a_message_that_says_why() -> None:
    with pytest.raises(ValidationError, match="https"):
        made({"name": "a", "customer": "c", "tools": [{**TOOL, "url": "http://x.example.com/hook"}]})


def test_a_tool_gets_default_parameters_description_and_timeout() -> None:
    tool = {"name": "t", "url": "http://localhost:9000/hook", "secret": SECRET}
    (made_tool,) = made({"name": "a", "customer": "c", "tools": [tool]}).tools
    assert made_tool == AssistantTool("t", "", '{"type":"object","properties":{}}', tool["url"], SECRET, 10.0)


def test_the_record_round_trips_through_the_codec() -> None:
    r = made({"name": "Helper", "customer": "cus_1", "tools": [TOOL], "template": "support"})
    codec = default_codec()
    assert codec.decode(codec.encode(r)) == r


@pytest.mark.parametrize("body", [{"name": "Helper"}, {"name": "Helper", "customer": None}])
def test_an_agent_without_a_customer_has_no_billing(body: dict[str, Any]) -> None:
    r = made(body)
    assert r.customer == ""  # the schema's customer is a string: "" is none (old records all have one)
    a = from_record(r)
    assert a.customer is None and assistants.public(a)["customer"] is None
    codec = default_codec()
    assert from_record(codec.decode(codec.encode(r))) == a


def test_agent_ids_are_unique_and_prefixed() -> None:
    ids = {assistants.new_agent_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("agt_") and len(i) == 36 for i in ids)


# --- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["support", "sales", "onboarding"])
def test_a_template_fills_prompt_greeting_and_suggestions(name: str) -> None:
    t = TEMPLATES[name]
    r = made({"name": "a", "customer": "c", "template": name})
    assert r.template == name and r.system_prompt == t.system_prompt and r.model == t.model
    assert r.branding.greeting == t.greeting and r.branding.suggestions == list(t.suggestions)
    assert t.system_prompt and t.greeting and 1 <= len(t.suggestions) <= MAX_SUGGESTIONS


def test_fields_given_win_over_the_template() -> None:
    r = made(
        {
            "name": "a",
            "customer": "c",
            "template": "sales",
            "system_prompt": "Mine.",
            "model": "m/x",
            "branding": {"greeting": "Yo", "title": "T"},
        }
    )
    assert (r.system_prompt, r.model, r.branding.greeting, r.branding.title) == ("Mine.", "m/x", "Yo", "T")
    assert r.branding.suggestions == list(TEMPLATES["sales"].suggestions)


def test_switching_template_adopts_its_texts_but_keeps_the_model() -> None:
    current = made({"name": "a", "customer": "c", "template": "support", "model": "m/custom"})
    r = patched(current, {"template": "onboarding"})
    t = TEMPLATES["onboarding"]
    assert (r.template, r.system_prompt, r.branding.greeting) == ("onboarding", t.system_prompt, t.greeting)
    assert r.model == "m/custom"
    cleared = patched(r, {"template": None})
    assert cleared.template is None and cleared.system_prompt == t.system_prompt


def test_an_unknown_template_is_refused() -> None:
    assert code_of({"name": "a", "customer": "c", "template": "legal"}) == ("invalid_template", "template")
    assert code_of({"name": "a", "customer": "c", "template": 3})[0] == "invalid_template"


# --- validation codes ---------------------------------------------------------------------------

BASE = {"name": "a", "customer": "c"}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"customer": "c"}, "invalid_name", "name"),
        ({**BASE, "name": "  "}, "invalid_name", "name"),
        ({**BASE, "name": "x" * 201}, "invalid_name", "name"),
        ({**BASE, "name": "a\x00b"}, "invalid_name", "name"),
        ({**BASE, "customer": 7}, "invalid_customer", "customer"),
        # An empty customer is refused rather than taken for "none": null says that.
        ({**BASE, "customer": ""}, "invalid_customer", "customer"),
        ({**BASE, "customer": " c"}, "invalid_customer", "customer"),
        ({**BASE, "customer": "x" * 201}, "invalid_customer", "customer"),
        ({**BASE, "customer": "c\x00"}, "invalid_customer", "customer"),
        ({**BASE, "system_prompt": None}, "invalid_system_prompt", "system_prompt"),
        ({**BASE, "system_prompt": "x" * 20_001}, "invalid_system_prompt", "system_prompt"),
        ({**BASE, "model": ""}, "invalid_model", "model"),
        ({**BASE, "fallback_models": "m"}, "invalid_fallback_models", "fallback_models"),
        (
            {**BASE, "fallback_models": ["a", "b", "c", "d", "e", "f"]},
            "invalid_fallback_models",
            "fallback_models",
        ),
        ({**BASE, "fallback_models": ["a", 3]}, "invalid_fallback_models", "fallback_models[1]"),
        ({**BASE, "temperature": 2.5}, "invalid_temperature", "temperature"),
        ({**BASE, "temperature": -0.1}, "invalid_temperature", "temperature"),
        ({**BASE, "temperature": True}, "invalid_temperature", "temperature"),
        ({**BASE, "temperature": "1"}, "invalid_temperature", "temperature"),
        ({**BASE, "tools": {}}, "invalid_tools", "tools"),
        ({**BASE, "tools": [TOOL] * 21}, "invalid_tools", "tools"),
        ({**BASE, "tools": ["x"]}, "invalid_tools", "tools[0]"),
        ({**BASE, "tools": [{**TOOL, "name": "bad name"}]}, "invalid_tools", "tools[0].name"),
        ({**BASE, "tools": [{**TOOL, "name": "x" * 65}]}, "invalid_tools", "tools[0].name"),
        # `re.match` with `$` would let a trailing newline through.
        ({**BASE, "tools": [{**TOOL, "name": "lookup\n"}]}, "invalid_tools", "tools[0].name"),
        ({**BASE, "tools": [TOOL, TOOL]}, "invalid_tools", "tools[1].name"),
        ({**BASE, "tools": [{**TOOL, "url": "ftp://x.example.com"}]}, "invalid_tools", "tools[0].url"),
        # Plain http would carry the signed request, and the answer, readable and changeable on the way.
        ({**BASE, "tools": [{**TOOL, "url": "http://x.example.com/hook"}]}, "invalid_tools", "tools[0].url"),
        ({**BASE, "tools": [{**TOOL, "url": "http://10.0.0.1/hook"}]}, "invalid_tools", "tools[0].url"),
        ({**BASE, "tools": [{**TOOL, "url": "https://"}]}, "invalid_tools", "tools[0].url"),
        ({**BASE, "tools": [{**TOOL, "url": "https://x:99999/"}]}, "invalid_tools", "tools[0].url"),
        ({**BASE, "tools": [{**TOOL, "url": "https://xn--zz.example/"}]}, "invalid_tools", "tools[0].url"),
        (
            {**BASE, "tools": [{k: v for k, v in TOOL.items() if k != "secret"}]},
            "invalid_tools",
            "tools[0].secret",
        ),
        ({**BASE, "tools": [{**TOOL, "secret": "x" * 15}]}, "invalid_tools", "tools[0].secret"),
        ({**BASE, "tools": [{**TOOL, "timeout_seconds": 0.5}]}, "invalid_tools", "tools[0].timeout_seconds"),
        ({**BASE, "tools": [{**TOOL, "timeout_seconds": 31}]}, "invalid_tools", "tools[0].timeout_seconds"),
        (
            {**BASE, "tools": [{**TOOL, "parameters": {"type": "string"}}]},
            "invalid_tools",
            "tools[0].parameters",
        ),
        ({**BASE, "tools": [{**TOOL, "parameters": "{}"}]}, "invalid_tools", "tools[0].parameters"),
        ({**BASE, "tools": [{**TOOL, "method": "GET"}]}, "unknown_field", "tools[0].method"),
        ({**BASE, "allowed_domains": "example.com"}, "invalid_allowed_domains", "allowed_domains"),
        ({**BASE, "allowed_domains": ["x.example.com"] * 51}, "invalid_allowed_domains", "allowed_domains"),
        ({**BASE, "branding": []}, "invalid_branding", "branding"),
        ({**BASE, "branding": {"primary_color": "blue"}}, "invalid_branding", "branding.primary_color"),
        ({**BASE, "branding": {"primary_color": "#12345"}}, "invalid_branding", "branding.primary_color"),
        ({**BASE, "branding": {"primary_color": "#123456\n"}}, "invalid_branding", "branding.primary_color"),
        ({**BASE, "branding": {"logo_url": "javascript:alert(1)"}}, "invalid_branding", "branding.logo_url"),
        ({**BASE, "branding": {"title": "x" * 101}}, "invalid_branding", "branding.title"),
        ({**BASE, "branding": {"suggestions": ["a"] * 7}}, "invalid_branding", "branding.suggestions"),
        ({**BASE, "branding": {"suggestions": [""]}}, "invalid_branding", "branding.suggestions[0]"),
        ({**BASE, "branding": {"font": "x"}}, "unknown_field", "branding.font"),
        ({**BASE, "colour": "x"}, "unknown_field", "colour"),
        ({**BASE, "voice": "x"}, "invalid_voice", "voice"),
        ({**BASE, "voice": {"phone_number": "555"}}, "invalid_voice", "voice.phone_number"),
        ({**BASE, "voice": {"phone_number": "+14155550100", "pitch": 1}}, "unknown_field", "voice.pitch"),
        ({**BASE, "agent_id": "agt_mine"}, "unknown_field", "agent_id"),
    ],
)
def test_invalid_input_has_a_stable_code_and_field(body: dict[str, Any], code: str, field: str) -> None:
    assert code_of(body) == (code, field)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert code_of([BASE]) == ("invalid_type", "body")


@pytest.mark.parametrize(
    "entry",
    [
        "https://shop.example.com",
        "shop.example.com:443",
        "shop.example.com/path",
        "*",
        "*.com",
        "*.co.uk",  # wildcards over public suffixes would let anyone register a matching site
        "*.github.io",
        "*.vercel.app",
        "*.Blogspot.com",
        "http://*.example.com",  # plain http is for exact hosts only
        "http://shop.example.com/path",
        "http://shop.example.com:80",
        "ftp://shop.example.com",
        "**.example.com",
        "shop.*.example.com",
        "-bad.example.com",
        "bad-.example.com",
        "shop..example.com",
        "shop.example.com.",
        "[::1]",
        "exa mple.com",
        "",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_a_bad_allowlist_entry_is_refused(entry: str) -> None:
    assert code_of({**BASE, "allowed_domains": ["ok.example.com", entry]}) == (
        "invalid_allowed_domains",
        "allowed_domains[1]",
    )


@pytest.mark.parametrize(
    "entry",
    [
        "localhost",
        "127.0.0.1",
        "example.com",
        "*.example.co.uk",
        "x-1.example.com",
        "*.me.github.io",
        "http://shop.example.com",
    ],
)
def test_a_good_allowlist_entry_is_kept(entry: str) -> None:
    assert made({**BASE, "allowed_domains": [entry]}).allowed_domains == [entry]


# --- PATCH semantics ----------------------------------------------------------------------------


def current_agent() -> AssistantChanged:
    other = {**TOOL, "name": "refund", "secret": "another-secret-123"}
    return made(
        {
            **BASE,
            "tools": [TOOL, other],
            "temperature": 1.0,
            "allowed_domains": ["a.example.com"],
            "branding": {"title": "Old", "greeting": "Hi"},
        }
    )


def test_patch_replaces_only_the_fields_given() -> None:
    current = current_agent()
    r = patched(current, {"name": "Renamed", "temperature": None})
    assert r.action == "updated" and r.actor == "key:k2" and r.occurred_at == T1
    assert r.event_id != current.event_id
    assert (r.name, r.temperature) == ("Renamed", None)
    assert (r.tools, r.allowed_domains, r.branding, r.customer) == (
        current.tools, current.allowed_domains, current.branding, current.customer
    )  # fmt: skip


def test_patch_sets_changes_and_clears_the_customer() -> None:
    bare = made({"name": "a"})
    billed = patched(bare, {"customer": "cus_2"})
    assert (billed.customer, from_record(billed).customer) == ("cus_2", "cus_2")
    assert patched(billed, {"customer": "cus_3"}).customer == "cus_3"
    assert patched(billed, {"name": "b"}).customer == "cus_2"  # absent: kept
    cleared = patched(billed, {"customer": None})
    assert (cleared.customer, from_record(cleared).customer) == ("", None)
    assert code_of({"customer": ""}, billed) == ("invalid_customer", "customer")


def test_an_empty_patch_changes_nothing_but_the_event() -> None:
    current = current_agent()
    r = patched(current, {})
    assert from_record(r) == from_record(current)


def test_patch_branding_replaces_the_whole_branding() -> None:
    r = patched(current_agent(), {"branding": {"primary_color": "#000000"}})
    assert r.branding == AssistantBranding(primary_color="#000000")


def test_a_tool_without_secret_keeps_the_secret_of_the_tool_of_its_name() -> None:
    current = current_agent()
    kept = {k: v for k, v in TOOL.items() if k != "secret"}
    r = patched(current, {"tools": [{**kept, "description": "Find it", "timeout_seconds": 3}]})
    (tool,) = r.tools  # the list replaces the whole list: `refund` is gone
    assert (tool.name, tool.secret, tool.description, tool.timeout_seconds) == (
        "lookup_order", SECRET, "Find it", 3.0
    )  # fmt: skip
    rotated = patched(current, {"tools": [{**kept, "secret": "a-brand-new-secret"}]})
    assert rotated.tools[0].secret == "a-brand-new-secret"
    assert code_of({"tools": [{**kept, "name": "new_tool"}]}, current) == ("invalid_tools", "tools[0].secret")
    assert patched(current, {"tools": []}).tools == ()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": None}, "invalid_name"),
        ({"model": None}, "invalid_model"),
        ({"tools": None}, "invalid_tools"),
        ({"fallback_models": None}, "invalid_fallback_models"),
        ({"allowed_domains": None}, "invalid_allowed_domains"),
        ({"branding": None}, "invalid_branding"),
        ({"bogus": 1}, "unknown_field"),
    ],
)
def test_patch_refuses_null_for_fields_that_cannot_be_empty(body: dict[str, Any], code: str) -> None:
    assert code_of(body, current_agent())[0] == code


def test_delete_keeps_the_last_configuration() -> None:
    current = from_record(current_agent())
    r = delete(current, actor="key:k3", now=T1)
    assert r.action == "deleted" and r.actor == "key:k3"
    gone = from_record(r)
    assert gone.deleted and gone == Assistant(**{**_fields(current), "deleted": True})


def _fields(a: Assistant) -> dict[str, Any]:
    return {name: getattr(a, name) for name in Assistant.__dataclass_fields__}


# --- the public view ----------------------------------------------------------------------------


def test_the_public_view_never_holds_a_secret() -> None:
    a = from_record(current_agent())
    shown = assistants.public(a)
    text = orjson.dumps(shown).decode()
    assert SECRET not in text and "another-secret-123" not in text and '"secret"' not in text
    assert [t["secret_set"] for t in shown["tools"]] == [True, True]
    assert shown["tools"][0]["parameters"] == TOOL["parameters"]
    assert shown["branding"] == {"logo_url": None, "primary_color": None, "title": "Old", "greeting": "Hi",
                                 "suggestions": []}  # fmt: skip
    assert set(shown) == {"agent_id", "name", "customer", "template", "system_prompt", "model",
                          "fallback_models", "temperature", "tools", "allowed_domains", "branding", "voice"}  # fmt: skip


# --- the allowlist ------------------------------------------------------------------------------

DOMAINS = ["shop.example.com", "*.example.org", "localhost", "127.0.0.1", "http://plain.example.net"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.example.com", True),
        ("https://shop.example.com:8443", True),  # the allowlist does not restrict ports
        ("http://shop.example.com", False),  # plain http only where the entry says http://
        ("http://plain.example.net", True),
        ("https://plain.example.net:8443", True),  # an http:// entry allows https too
        ("http://a.plain.example.net", False),
        ("HTTPS://SHOP.EXAMPLE.COM", True),  # schemes and hosts are case-insensitive
        ("https://Shop.Example.Com:443", True),
        ("https://other.example.com", False),
        ("https://example.com", False),
        ("https://evilshop.example.com", False),
        ("https://shop.example.com.evil.net", False),
        ("https://a.example.org", True),  # wildcard: any subdomain
        ("https://a.b.example.org", True),
        ("https://A.EXAMPLE.ORG", True),
        ("https://example.org", False),  # ... but not the apex
        ("https://badexample.org", False),
        ("http://a.example.org", False),  # wildcard matches need https
        ("http://localhost", True),
        ("http://localhost:5173", True),
        ("http://127.0.0.1:8000", True),
        ("http://127.0.0.2:8000", False),
        ("https://localhost:3000", True),
        ("null", False),  # sandboxed iframes, file: pages
        ("", False),
        (None, False),
        ("ftp://shop.example.com", False),
        ("file://shop.example.com", False),
        ("shop.example.com", False),
        ("https://shop.example.com/", False),  # an Origin header carries no path
        ("https://shop.example.com/page?x=1", False),
        ("https://user@shop.example.com", False),
        ("https://shop.example.com:notaport", False),
        ("https://[::1]", False),
        ("https://shop.example.com.", False),
    ],
)
def test_origin_allowed(origin: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, DOMAINS) is allowed


def test_an_empty_allowlist_allows_nothing() -> None:
    assert origin_allowed("https://shop.example.com", []) is False
    assert origin_allowed("http://localhost:8000", ()) is False


def test_frame_ancestors_lists_every_entry_with_any_port() -> None:
    assert frame_ancestors(DOMAINS) == (
        "https://shop.example.com:* https://*.example.org:* https://localhost:* http://localhost:* "
        "https://127.0.0.1:* http://127.0.0.1:* https://plain.example.net:* http://plain.example.net:*"
    )
    assert frame_ancestors([]) == "'none'"


def test_frame_ancestors_drops_what_could_break_out_of_the_header() -> None:
    hostile = ["evil.com; script-src *", "x.example.com 'unsafe-inline'", "*"]
    assert frame_ancestors(hostile) == "'none'"
    assert frame_ancestors(["Shop.Example.com", *hostile]) == "https://shop.example.com:*"


@pytest.mark.parametrize(
    ("origin", "entry"),
    [
        ("https://shop.example.com", "shop.example.com"),
        ("https://Shop.Example.com:8443", "shop.example.com"),
        ("http://shop.example.com", "http://shop.example.com"),
        ("null", None),
        ("https://shop.example.com/path", None),
        ("ftp://shop.example.com", None),
    ],
)
def test_the_entry_for_an_origin_lets_that_origin_in(origin: str, entry: str | None) -> None:
    assert entry_for(origin) == entry
    if entry is not None:
        assert origin_allowed(origin, [entry])
