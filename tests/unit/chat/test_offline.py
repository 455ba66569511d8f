"""The offline demo assistant's replies."""

from __future__ import annotations

from pipeline.chat.offline import OfflineReply, count_words, offline_reply, words


def test_words_join_back_into_the_text() -> None:
    assert words("  Hello,  wide\nworld ") == ["  Hello,  ", "wide\n", "world "]
    assert words("") == []


def test_a_plain_message_gets_a_labelled_canned_reply() -> None:
    reply = offline_reply([{"role": "user", "content": " Hi there "}], [])
    assert reply == OfflineReply(
        '[offline demo] No AI model is configured, so this is a canned reply to: "Hi there"'
    )
    assert reply.output_words == 16


def test_bang_tool_calls_a_known_tool() -> None:
    messages = [{"role": "user", "content": '!tool lookup {"id": 1}'}]
    reply = offline_reply(messages, ["lookup"])
    assert reply == OfflineReply(
        "",
        {
            "id": "call_offline_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"id": 1}'},
        },
    )
    assert reply.output_words == 3
    assert offline_reply([{"role": "user", "content": "!tool lookup"}], ["lookup"]).tool_call == {
        "id": "call_offline_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": "{}"},
    }


def test_bang_tool_with_an_unknown_tool_says_so() -> None:
    reply = offline_reply([{"role": "user", "content": "!tool nope {}"}], ["lookup"])
    assert reply == OfflineReply("[offline demo] This agent has no tool named nope.")


def test_after_a_tool_result_it_reports_the_answer() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "!tool lookup {}"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"error": "timeout"}'},
    ]
    assert (
        offline_reply(messages, ["lookup"]).text
        == '[offline demo] The tool lookup answered: {"error": "timeout"}'
    )


def test_count_words_ignores_missing_content() -> None:
    assert count_words([{"role": "user", "content": "a b c"}, {"role": "assistant", "content": None}]) == 3
