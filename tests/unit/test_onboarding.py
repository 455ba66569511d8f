"""The home page's checklist turns green from facts: agents, allowlists, where conversations came from."""

from __future__ import annotations

from gateway.dashboard.onboarding import Facts, steps

OWN = "http://127.0.0.1:8080"


def _done(f: Facts) -> dict[str, bool]:
    return {s.key: s.done for s in steps(f)}


def test_a_new_tenant_has_every_step_to_do() -> None:
    assert _done(Facts(0, None, (), OWN, ())) == dict.fromkeys(
        ("agent", "test", "domain", "snippet", "live"), False
    )


def test_a_conversation_on_the_dashboard_tests_the_agent_but_does_not_make_it_live() -> None:
    done = _done(Facts(1, "agt_1", (), OWN, (OWN,)))
    assert done == {"agent": True, "test": True, "domain": False, "snippet": False, "live": False}


def test_a_conversation_from_another_origin_is_the_site_going_live() -> None:
    found = steps(Facts(1, "agt_1", ("https://shop.example.com",), OWN, (OWN, "https://shop.example.com")))
    assert all(s.done for s in found)
    assert "https://shop.example.com" in found[3].detail
