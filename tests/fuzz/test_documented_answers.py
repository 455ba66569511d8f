"""What fuzzing found, kept as plain tests: real answers checked against the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from e2e_stack import Stack

from gateway.openapi import OPENAPI

# Schemathesis's generated tests do not run under pytest-xdist (collected, then silently dropped):
# `make test` runs these in its single-process phase.
pytestmark = pytest.mark.serial

SCHEMA = schemathesis.openapi.from_dict(OPENAPI)


def undocumented(method: str, template: str, answer: httpx.Response) -> str | None:
    """Why `answer` strays from the document (its status or its body), or None when it does not."""
    operation = SCHEMA[template][method]
    if str(answer.status_code) not in operation.definition.raw["responses"]:
        return f"{method} {template}: status {answer.status_code} is not documented"
    try:
        operation.validate_response(answer)
    except AssertionError as exc:
        return f"{method} {template}: {answer.status_code} {answer.text[:200]}: {str(exc)[:400]}"
    return None


async def test_customer_answers_are_documented(fuzz_stack: Stack, fuzz_headers: dict[str, str]) -> None:
    async with fuzz_stack.client(None) as api:
        api.headers.update(fuzz_headers)
        put = await api.put("/v1/customers/doc_1", json={"credit_limit": "5", "metadata": {"a": "b"}})
        got = await api.get("/v1/customers/doc_1")
        listed = await api.get("/v1/customers", params={"prefix": "doc_", "limit": 1})
        paged = await api.get(
            "/v1/customers", params={"limit": 1, "cursor": listed.json()["next_cursor"] or ""}
        )
        refused = await api.get("/v1/customers", params={"cursor": "not-one"})
    assert listed.json()["customers"][0]["customer"] == "doc_1" and refused.status_code == 400
    wrong = [
        undocumented("PUT", "/v1/customers/{customer}", put),
        undocumented("GET", "/v1/customers/{customer}", got),
        *(undocumented("GET", "/v1/customers", answer) for answer in (listed, paged, refused)),
    ]
    assert [w for w in wrong if w] == []


async def test_refusals_of_a_nul_are_documented_on_every_operation(
    fuzz_stack: Stack, fuzz_headers: dict[str, str]
) -> None:
    """The gateway refuses a NUL in any path or query with 400 before routing: every operation says so,
    the public ones (widget, chat page, probes) included."""
    async with fuzz_stack.client(None) as api:
        api.headers.update(fuzz_headers)
        answers = [
            ("GET", "/chat/{agent_id}", await api.get("/chat/a%00b")),
            ("GET", "/widget.js", await api.get("/widget.js?v=%00")),
            ("GET", "/healthz", await api.get("/healthz?x=%00")),
            ("GET", "/readyz", await api.get("/readyz?x=%00")),
            ("OPTIONS", "/v1/widget/sessions", await api.options("/v1/widget/sessions?x=%00")),
        ]
    assert all(answer.status_code == 400 for _, _, answer in answers)
    wrong = [undocumented(method, template, answer) for method, template, answer in answers]
    assert [w for w in wrong if w] == []


async def test_every_operation_needing_a_key_refuses_requests_without_a_valid_one(fuzz_stack: Stack) -> None:
    """No way in past authentication: each operation the document secures answers 401, with no key and
    with a well-formed key nobody issued, before it reads anything (the body `{}` would be refused)."""
    tried = 0
    wrong = []
    for template, methods in OPENAPI["paths"].items():
        path = template.replace("{", "").replace("}", "")  # each parameter named by itself: c, agent_id, ...
        for method, operation in methods.items():
            if operation.get("security", OPENAPI["security"]) == []:
                continue
            for key, code in ((None, "missing_api_key"), ("rk_" + "A" * 43, "invalid_api_key")):
                async with fuzz_stack.client(key) as api:
                    answer = await api.request(method.upper(), path, json={})
                tried += 1
                body = answer.json() if answer.headers.get("content-type") == "application/json" else {}
                if answer.status_code != 401 or body.get("error", {}).get("code") != code:
                    wrong.append(
                        f"{method.upper()} {path} with {key}: {answer.status_code} {answer.text[:100]}"
                    )
                elif problem := undocumented(method.upper(), template, answer):
                    wrong.append(problem)
    assert tried > 50
    assert wrong == []
