"""A conversation's transcript: seqs, resume (replay after a seq), resent client ids, and the model's
view of the history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pipeline.chat.conversation import Transcript, model_messages, tool_specs, usage_events
from pipeline.records import AssistantTool, ChatMessageRecorded

AT = datetime(2026, 3, 1, tzinfo=UTC)
CNV = "cnv_1"


def msg(
    seq: int, role: str = "user", content: str | None = None, status: str = "complete", **fields: Any
) -> ChatMessageRecorded:
    return ChatMessageRecorded(
        f"{CNV}:{seq}",
        "ten_1",
        "agt_1",
        CNV,
        seq,
        role,
        f"m{seq}" if content is None else content,
        status,
        AT,
        **fields,
    )


def transcript(keep: int = 200, **kwargs: Any) -> Transcript:
    return Transcript("ten_1", CNV, "agt_1", "vis_1", keep=keep, **kwargs)


def turn(t: Transcript, cid: str) -> tuple[int, int]:
    """A visitor message and its reply."""
    user = msg(t.next_seq(), client_message_id=cid)
    t.append(user)
    t.append(msg(t.next_seq(), "assistant", reply_to=user.seq))
    return user.seq, user.seq + 1


def seqs(records: list[ChatMessageRecorded] | tuple[ChatMessageRecorded, ...]) -> list[int]:
    return [m.seq for m in records]


def test_seqs_are_handed_out_one_after_another() -> None:
    t = transcript()
    assert t.next_seq() == 1
    turn(t, "a")
    assert (t.last_seq, t.next_seq()) == (2, 3)
    with pytest.raises(ValueError):
        t.append(msg(5))


def test_resuming_replays_every_message_after_the_last_seen_once_in_order() -> None:
    t = transcript()
    for cid in "abc":
        turn(t, cid)
    replay = t.replay(2)
    assert (replay.stored, seqs(replay.buffered)) == (range(3, 3), [3, 4, 5, 6])
    assert seqs(t.replay(0).buffered) == [1, 2, 3, 4, 5, 6]
    assert seqs(t.replay(6).buffered) == []
    assert seqs(t.replay(60).buffered) == []  # a client ahead of the server gets nothing replayed


def test_messages_older_than_memory_come_from_the_projection() -> None:
    t = transcript(keep=4)
    for cid in "abcd":
        turn(t, cid)
    replay = t.replay(1)
    assert (replay.stored, seqs(replay.buffered)) == (range(2, 5), [5, 6, 7, 8])
    assert t.replay(6).stored == range(7, 7)


def test_a_transcript_loaded_from_the_projection_continues_its_seqs_and_knows_its_client_ids() -> None:
    t = transcript(last_seq=4, recent=[msg(4, "assistant", reply_to=3), msg(3, client_message_id="b")],
                   client_ids={"a": 1, "b": 3})  # fmt: skip
    assert (t.next_seq(), t.seq_of("a"), t.seq_of("b"), t.seq_of("c")) == (5, 1, 3, None)
    assert seqs(t.replay(0).buffered) == [3, 4]
    assert t.replay(0).stored == range(1, 3)


def test_a_resent_client_message_id_is_answered_only_with_what_was_not_sent() -> None:
    t = transcript()
    user, reply = turn(t, "a")
    turn(t, "b")
    assert t.seq_of("a") == user
    assert seqs(t.turn_after("a", 0)) == [1, 2]  # the message and its reply
    assert seqs(t.turn_after("a", 1)) == [2]
    assert seqs(t.turn_after("a", reply)) == []  # already sent: never twice
    assert seqs(t.turn_after("b", 2)) == [3, 4]
    assert t.turn_after("unknown", 0) == []


def test_a_resent_message_whose_reply_is_still_streaming_gets_only_the_message() -> None:
    t = transcript()
    t.append(msg(1, client_message_id="a"))
    assert seqs(t.turn_after("a", 0)) == [1]
    assert seqs(t.turn_after("a", 1)) == []


def test_a_burned_seq_is_skipped_and_not_expected_from_the_projection() -> None:
    t = transcript(keep=2)
    turn(t, "a")
    t.burn(3)
    assert t.next_seq() == 4
    turn(t, "b")
    assert t.expected(range(1, 4)) == {1, 2}
    with pytest.raises(ValueError):
        t.burn(9)


def test_the_model_sees_the_prompt_and_the_recent_history() -> None:
    history = [msg(1, content="hi"), msg(2, "assistant", "hello", reply_to=1), msg(3, content="more")]
    assert model_messages("Be nice.", history) == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "more"},
    ]
    assert model_messages("p", history, limit=1) == [
        {"role": "system", "content": "p"},
        {"role": "user", "content": "more"},
    ]


def test_replies_no_model_wrote_are_left_out_but_interrupted_ones_stay() -> None:
    history = [
        msg(1, content="a"),
        msg(2, "assistant", "Unavailable.", "unavailable", reply_to=1),
        msg(3, content="b"),
        msg(4, "assistant", "Sorry.", "failed", reply_to=3),
        msg(5, content="c"),
        msg(6, "assistant", "Half a", "interrupted", reply_to=5),
    ]
    assert [m["content"] for m in model_messages("p", history)[1:]] == ["a", "b", "c", "Half a"]


def calls(*ids: str) -> str:
    return orjson.dumps(
        [{"id": i, "type": "function", "function": {"name": "t", "arguments": "{}"}} for i in ids]
    ).decode()


def test_a_tool_call_goes_with_all_its_results() -> None:
    history = [
        msg(1, content="go"),
        msg(2, "assistant", "", tool_calls=calls("c1"), reply_to=1),
        msg(3, "tool", "42", tool_call_id="c1", tool_name="t", reply_to=1),
        msg(4, "assistant", "It is 42.", reply_to=1),
    ]
    out = model_messages("p", history)
    assert out[2] == {"role": "assistant", "content": "", "tool_calls": orjson.loads(calls("c1"))}
    assert out[3] == {"role": "tool", "tool_call_id": "c1", "content": "42"}
    assert len(out) == 5


def test_a_dangling_tool_call_or_result_is_dropped() -> None:
    unanswered = [msg(1, content="go"), msg(2, "assistant", "Let me see", tool_calls=calls("c1", "c2"), reply_to=1),
                  msg(3, "tool", "42", tool_call_id="c1", reply_to=1)]  # fmt: skip
    assert model_messages("p", unanswered)[1:] == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "Let me see"},
    ]
    cut = [msg(3, "tool", "42", tool_call_id="c1", reply_to=1), msg(4, "assistant", "It is 42.", reply_to=1)]
    assert model_messages("p", cut)[1:] == [{"role": "assistant", "content": "It is 42."}]


def test_tools_become_function_specs_without_url_or_secret() -> None:
    tool = AssistantTool("lookup", "Find an order", '{"type":"object","properties":{"id":{"type":"string"}}}',
                         "https://t.example/x", "s" * 20)  # fmt: skip
    assert tool_specs([tool]) == [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find an order",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
        }
    ]


def test_a_billed_reply_becomes_one_usage_event_per_direction_with_stable_ids() -> None:
    reply = msg(2, "assistant", model="gpt-4o", input_tokens=120, output_tokens=7, customer="cus_1")
    events = usage_events(reply)
    assert [(u.event_id, u.customer, u.type, u.quantity, u.properties) for u in events] == [
        (f"{CNV}:2:input", "cus_1", "llm.tokens", Decimal(120), {"model": "gpt-4o", "direction": "input"}),
        (f"{CNV}:2:output", "cus_1", "llm.tokens", Decimal(7), {"model": "gpt-4o", "direction": "output"}),
    ]
    assert all(u.tenant_id == "ten_1" and u.timestamp == u.received_at == AT for u in events)
    assert usage_events(reply) == events  # a redelivered reply derives the very same events


@pytest.mark.parametrize(
    "record",
    [
        msg(1, "user", customer="cus_1"),  # a visitor's message costs nothing by itself
        msg(2, "assistant", input_tokens=5, output_tokens=5),  # no billing customer recorded
        msg(2, "assistant", input_tokens=5, output_tokens=5, customer=""),
        msg(3, "assistant", "", "interrupted", customer="cus_1"),  # cut before any token: no counts
        msg(4, "tool", customer="cus_1"),
    ],
)
def test_only_replies_with_a_customer_and_token_counts_are_billed(record: ChatMessageRecorded) -> None:
    assert usage_events(record) == []
