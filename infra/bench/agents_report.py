"""The chat and voice sections of the `revos bench` report."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infra.bench.text import ms, n, pair, ratio, times


def chat_section(chat: dict[str, Any] | None) -> list[str]:
    if not chat:
        return []
    ours, direct, alone = chat["gateway"], chat["direct"], chat["alone"]
    mem, bill = chat["memory"], chat["billing"]
    alone_ttft = f"  one conversation alone ({alone['sent']} turns)"
    alone_turn = "  one conversation alone"
    title = f"Chat, {chat['conversations']:,} sockets open at once x {chat['messages']} messages each"
    env = chat["gateway_env"]
    limits = ", ".join(f"{k}={v}" for k, v in env.items() if k.startswith("REVOS_CHAT_"))
    errors = ", ".join(f"{outcome} {n:,}" for outcome, n in ours["errors_by_outcome"].items())
    opened = f"{mem['sockets']:,} idle sockets open, after hello"
    cpu = ", ".join(f"{name} {pct:.0f}" for name, pct in chat["cpu_percent_of_core"].items())
    return [
        title,
        f"  (offline model, {chat['delay_ms']} ms per word; rate limits raised so they never refuse: {limits})",
        f"  {'':<42}{'p50 ms':>10}{'p99 ms':>10}",
        pair("time to first token, send -> first delta", ours["ttft_p50_ms"], ours["ttft_p99_ms"]),
        pair("  the provider alone, in the bench", direct["ttft_p50_ms"], direct["ttft_p99_ms"]),
        pair("  added by the gateway", chat["ttft_added_p50_ms"], chat["ttft_added_p99_ms"]),
        f"  {'  ratio gateway / provider alone':<42}{times(chat['ttft_ratio_p50']):>10}"
        f"{times(chat['ttft_ratio_p99']):>10}",
        pair(alone_ttft, alone["ttft_p50_ms"], alone["ttft_p99_ms"]),
        pair("turn, send -> final message", ours["turn_p50_ms"], ours["turn_p99_ms"]),
        pair("  the provider alone, in the bench", direct["turn_p50_ms"], direct["turn_p99_ms"]),
        pair(alone_turn, alone["turn_p50_ms"], alone["turn_p99_ms"]),
        f"  {ours['complete']:,} of {ours['planned']:,} turns complete, {n(ours['turns_per_s'])} turns/s over "
        f"{ours['seconds']:.1f}s; errors: {ours['errors']:,}" + (f" ({errors})" if errors else ""),
        "  (a closed loop: each conversation sends its next message once its reply is final, so at"
        " saturation a turn waits about conversations / turns per second)",
        f"  ({chat['conversations']:,} sockets opened and said hello in {chat['open_seconds']:.1f}s)",
        f"  CPU during the turns, % of one core: {cpu}",
        "",
        f"{'Gateway memory (RSS)':<44}{'MiB':>10}",
        f"  {'no chat socket open':<42}{mem['rss_idle_mib']:>10.1f}",
        f"  {opened:<42}{mem['rss_open_mib']:>10.1f}  = {mem['per_connection_kib']:.1f} KiB per socket",
        f"  {'the same sockets, after the turns':<42}{mem['rss_after_turns_mib']:>10.1f}",
        "  (RSS grows only past memory the gateway freed before: after other sections it understates the"
        " cost per socket; --only-chat measures a fresh gateway)",
        "",
        f"Chat charges: {bill['charges']:,} llm.tokens charges for {bill['replies']:,} replies "
        f"(expected {bill['expected_charges']:,}), {Decimal(bill['tokens']):,} tokens = "
        f"{Decimal(bill['credits']):,} credits "
        f"at {bill['credits_per_token']} per token (burn table {bill['burn_table']})",
        f"  last charge applied {ms(bill['settled_after_last_reply_ms'])} ms after the last reply was written; "
        f"reply -> charge "
        f"p50 {ms(bill['reply_to_charge_p50_ms'])} / p99 {ms(bill['reply_to_charge_p99_ms'])} ms",
        "",
    ]


def voice_section(voice: dict[str, Any] | None) -> list[str]:
    if not voice:
        return []
    calls, chat, first, connect, lost = (
        voice[k] for k in ("voice", "chat", "first_prompt", "connect", "turns")
    )
    title = (
        f"Voice, {voice['calls']:,} calls at once x {voice['prompts']} prompts each, beside chat at the same "
        f"load ({voice['calls']:,} widget sockets x {voice['prompts']} messages)"
    )
    rounds = ", ".join(voice["rounds"])
    errors = ", ".join(f"{outcome} {n:,}" for outcome, n in calls["errors_by_outcome"].items())
    cpu = "; ".join(
        f"{channel}: "
        + ", ".join(f"{name} {n(pct)}" for name, pct in voice["cpu_percent_of_core"][channel].items())
        for channel in ("voice", "chat")
    )
    lost_in = f" in {lost['calls_with_a_lost_turn']:,} calls" if lost["turns_lost"] else ""
    return [
        title,
        f"  (Twilio's webhook and ConversationRelay socket, signed as Twilio signs; one agent and the same "
        f"questions on both channels; offline model, {voice['delay_ms']} ms per word; rounds: {rounds})",
        f"  {'':<42}{'p50 ms':>10}{'p99 ms':>10}",
        pair("time to first token, prompt -> first text", calls["ttft_p50_ms"], calls["ttft_p99_ms"]),
        pair("  chat, send -> first delta", chat["ttft_p50_ms"], chat["ttft_p99_ms"]),
        f"  {'  ratio voice / chat':<42}{ratio(voice['ttft_ratio_p50']):>10}{ratio(voice['ttft_ratio_p99']):>10}",
        pair("  each call's first prompt, after setup", first["ttft_p50_ms"], first["ttft_p99_ms"]),
        pair("turn, prompt -> last token", calls["turn_p50_ms"], calls["turn_p99_ms"]),
        pair("  chat, send -> final message", chat["turn_p50_ms"], chat["turn_p99_ms"]),
        f"  {'  ratio voice / chat':<42}{ratio(voice['turn_ratio_p50']):>10}{ratio(voice['turn_ratio_p99']):>10}",
        pair("incoming webhook -> TwiML", connect["webhook_p50_ms"], connect["webhook_p99_ms"]),
        pair("relay socket handshake", connect["socket_p50_ms"], connect["socket_p99_ms"]),
        f"  {calls['complete']:,} of {calls['planned']:,} turns answered, {n(calls['turns_per_s'])} turns/s over "
        f"{calls['seconds']:.1f}s (chat: {chat['complete']:,} of {chat['planned']:,}, {n(chat['turns_per_s'])} "
        f"turns/s); errors: {calls['errors']:,}" + (f" ({errors})" if errors else ""),
        f"  turns lost: {lost['turns_lost']:,}{lost_in} ({lost['turns_stored']:,} of {lost['turns_planned']:,} "
        f"stored with their replies, {lost['messages_stored']:,} of {lost['messages_expected']:,} messages, "
        f"read back from {voice['read_back']['from']} in {voice['read_back']['seconds']:.1f}s)",
        f"  CPU during the turns, % of one core: {cpu}",
        "",
    ]
