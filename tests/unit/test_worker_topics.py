"""Every topic a stream processor consumes or dead-letters to is created at start-up (`ALL_TOPICS`):
a broker that does not create topics on first use would otherwise refuse the dead letter of a dead letter."""

from __future__ import annotations

from agents.app import build_app
from pipeline.settings import Settings
from pipeline.topics import ALL_TOPICS, dead_letter_topic


def test_every_consumed_topic_and_its_dead_letter_topic_are_created_at_start_up() -> None:
    app = build_app(Settings.from_env({}))
    consumed = {t for agent in app.agents.values() for t in agent.channel.topics}
    assert "revos.billing.dlq" in consumed  # the dead letters' own processor is among them

    needed = consumed | {dead_letter_topic(t) for t in consumed}

    assert needed - set(ALL_TOPICS) == set()
