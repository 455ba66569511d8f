"""The TypeScript SDK's own tests, run by Node's test runner: validation against the shared cases,
batching, backoff, delivery against a fault-injecting local server, and the packed package."""

from __future__ import annotations

from node_packages import TS_SDK, build_sdk, require_node, run


def test_the_typescript_sdk_passes_its_node_tests() -> None:
    node = require_node()
    build_sdk()
    out = run([node, "--test", "--test-reporter=tap", "test/"], TS_SDK, 240)
    assert "# fail 0" in out, out[-5000:]
