"""Twilio, played against a Revos gateway: one account's signed voice webhooks and ConversationRelay socket.

    twilio = TwilioSimulator(stack.url, ACCOUNT_SID, AUTH_TOKEN)
    call = twilio.call(to="+14155550100", from_="+15017122661")
    twiml = await call.incoming()                    # the number's voice URL; parsed TwiML
    async with call.relay(twiml) as relay:           # the signed handshake, then `setup`
        text = await relay.prompt("What are your opening hours?")
        await relay.hang_up()                        # closes the socket, then the <Connect action> URL
    await call.status("completed", duration=42)      # a status callback

`X-Twilio-Signature` is computed here by hand, exactly as Twilio does: HMAC-SHA1, keyed with the auth
token, over the full URL followed by every POST parameter sorted by name (then value), name and value
concatenated; base64. The relay handshake is signed over its ws(s) URL, query included, with no params.
Every request can also be sent with another signature, token or call SID, for abuse tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

SIGNATURE = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
STATUS_PATH = "/v1/voice/twilio/status"
INCOMING_PATH = "/v1/voice/twilio/incoming"
Params = Mapping[str, str] | Iterable[tuple[str, str]]


def signature(auth_token: str, url: str, params: Params = ()) -> str:
    """Twilio's request signature of a POST to `url` with form `params` (none for a socket handshake)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    # Sorted by name, then value; a repeated identical pair counts once (as Twilio's own validator does).
    data = url + "".join(name + value for name, value in sorted(set(pairs)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass
class TwilioSimulator:
    """Twilio for one account (`account_sid`, `auth_token`) calling the gateway at `base_url`."""

    base_url: str
    account_sid: str
    auth_token: str
    timeout: float = 30.0

    def sign(self, url: str, params: Params = ()) -> str:
        return signature(self.auth_token, url, params)

    def call(self, to: str, from_: str = "+15017122661", call_sid: str | None = None) -> PhoneCall:
        """A new inbound call to `to` (nothing is sent yet)."""
        return PhoneCall(self, call_sid or new_sid("CA"), to, from_)

    async def post(
        self, url: str, form: Mapping[str, str], *, signed_with: str | None = None, sign: bool = True
    ) -> httpx.Response:
        """POST a form-encoded webhook to `url` (absolute, or a path under base_url), signed as Twilio
        signs it unless `signed_with` gives another signature or `sign` is False."""
        if url.startswith("/"):
            url = self.base_url + url
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": secrets.token_hex(8)}
        if sign:
            headers[SIGNATURE] = signed_with if signed_with is not None else self.sign(url, form)
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            return await http.post(url, data=dict(form), headers=headers)


@dataclass
class PhoneCall:
    """One inbound call: its webhooks and, once connected, its relay socket."""

    twilio: TwilioSimulator
    sid: str
    to: str
    from_: str
    twiml: ET.Element | None = None
    started: float = field(default_factory=time.monotonic)
    _sequence: int = 0

    def form(self, **extra: str) -> dict[str, str]:
        """The parameters every voice webhook of this call carries, plus `extra`."""
        return {
            "AccountSid": self.twilio.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": "inbound",
            "From": self.from_,
            "FromCountry": "US",
            "To": self.to,
            "ToCountry": "US",
            **extra,
        }

    async def incoming_response(self, **overrides: Any) -> httpx.Response:
        """The raw answer to the number's voice URL; `overrides` go to `TwilioSimulator.post`."""
        return await self.twilio.post(INCOMING_PATH, self.form(CallStatus="ringing"), **overrides)

    async def incoming(self) -> ET.Element:
        """Call the number's voice URL; its TwiML, parsed (kept for `relay` and `hang_up`)."""
        answer = await self.incoming_response()
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/xml"), answer.headers
        self.twiml = ET.fromstring(answer.text)
        return self.twiml

    @property
    def action_url(self) -> str:
        connect = self._twiml().find("./Connect")
        assert connect is not None and connect.get("action"), "the TwiML has no <Connect action>"
        return str(connect.get("action"))

    def relay_url(self, twiml: ET.Element | None = None) -> str:
        found = (twiml if twiml is not None else self._twiml()).find("./Connect/ConversationRelay")
        assert found is not None and found.get("url"), "the TwiML has no <ConversationRelay url>"
        return str(found.get("url"))

    def parameters(self, twiml: ET.Element | None = None) -> dict[str, str]:
        """The <Parameter>s of the ConversationRelay: Twilio hands them back in `setup`."""
        found = (twiml if twiml is not None else self._twiml()).findall(
            "./Connect/ConversationRelay/Parameter"
        )
        return {str(p.get("name")): str(p.get("value")) for p in found}

    def _twiml(self) -> ET.Element:
        assert self.twiml is not None, "call incoming() first"
        return self.twiml

    @contextlib.asynccontextmanager
    async def relay(
        self,
        twiml: ET.Element | None = None,
        *,
        signed_with: str | None = None,
        setup: Mapping[str, Any] | None = None,
        call_token: str | None = None,
    ) -> AsyncIterator[Relay]:
        """Open the ConversationRelay socket the TwiML names, with the signed handshake, and send `setup`
        with the call token Parameter (or `call_token`, or extra/replaced `setup` fields)."""
        if twiml is not None:
            self.twiml = twiml
        url = self.relay_url()
        header = signed_with if signed_with is not None else self.twilio.sign(url)
        ws = await connect(
            url, additional_headers={SIGNATURE: header}, proxy=None, open_timeout=self.twilio.timeout,
            max_size=2**20,
        )  # fmt: skip
        relay = Relay(self, ws)
        try:
            params = self.parameters()
            if call_token is not None:
                params["call_token"] = call_token
            await relay.send(
                {
                    "type": "setup",
                    "sessionId": new_sid("VX"),
                    "accountSid": self.twilio.account_sid,
                    "callSid": self.sid,
                    "parentCallSid": "",
                    "from": self.from_,
                    "to": self.to,
                    "forwardedFrom": self.to,
                    "callerName": "",
                    "direction": "inbound",
                    "callType": "PSTN",
                    "callStatus": "RINGING",
                    "customParameters": params,
                    **(setup or {}),
                }
            )
            yield relay
        finally:
            await ws.close()

    async def ended(self, status: str = "ended", duration: int | None = None, **extra: str) -> httpx.Response:
        """Twilio calling the <Connect action> URL: the relay session is over (SessionStatus `status`)."""
        form = {
            "AccountSid": self.twilio.account_sid,
            "CallSid": self.sid,
            "CallStatus": "in-progress",
            "SessionId": new_sid("VX"),
            "SessionStatus": status,
            "SessionDuration": str(self.seconds if duration is None else duration),
            **extra,
        }
        return await self.twilio.post(self.action_url, form)

    async def status(
        self,
        state: str,
        duration: int | None = None,
        *,
        sequence: int | None = None,
        at: float | None = None,
        **overrides: Any,
    ) -> httpx.Response:
        """A status callback: the call is now `state` (CallDuration with `duration` when given), as of
        `at` (epoch seconds; now by default), numbered `sequence` (the next number by default)."""
        if sequence is None:
            sequence = self._sequence
            self._sequence += 1
        extra = {
            "CallStatus": state,
            "Timestamp": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(at)),
            "SequenceNumber": str(sequence),
            "CallbackSource": "call-progress-events",
        }
        if duration is not None:
            extra["CallDuration"] = str(duration)
            extra["Duration"] = str(max(1, -(-duration // 60)))
        return await self.twilio.post(STATUS_PATH, self.form(**extra), **overrides)

    @property
    def seconds(self) -> int:
        return round(time.monotonic() - self.started)


@dataclass
class Relay:
    """Twilio's side of a ConversationRelay socket: sends what the caller says, collects what to speak."""

    call: PhoneCall
    ws: ClientConnection
    received: list[dict[str, Any]] = field(default_factory=list)
    first_token_seconds: list[float] = field(default_factory=list)  # per prompt, from sending it
    end: dict[str, Any] | None = None  # the gateway's `end` message, once sent

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        """The next message the gateway sends."""
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.received.append(message)
        if message.get("type") == "end":
            self.end = message
        return message

    async def speak(self, text: str) -> float:
        """The caller says `text` (a final `prompt`); returns when it was sent (time.monotonic())."""
        await self.send({"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": True})
        return time.monotonic()

    async def reply(self, *, since: float | None = None, timeout: float = 15.0) -> str:
        """The text tokens up to the one marked `last`, joined; stops early at an `end`."""
        tokens: list[str] = []
        while True:
            message = await self.next(timeout)
            if message.get("type") == "end":
                return "".join(tokens)
            assert message.get("type") == "text", message
            if since is not None and not tokens and message.get("token"):
                self.first_token_seconds.append(time.monotonic() - since)
            tokens.append(str(message.get("token", "")))
            if message.get("last"):
                return "".join(tokens)

    async def prompt(self, text: str, timeout: float = 15.0) -> str:
        """Say `text`; the whole reply spoken back."""
        return await self.reply(since=await self.speak(text), timeout=timeout)

    async def tokens(self, count: int, timeout: float = 15.0) -> list[str]:
        """The next `count` non-empty text tokens (of a reply still streaming)."""
        found: list[str] = []
        while len(found) < count:
            message = await self.next(timeout)
            assert message.get("type") == "text" and not message.get("last"), message
            if message.get("token"):
                found.append(str(message["token"]))
        return found

    async def interrupt(self, heard: str, ms: int) -> None:
        """The caller spoke over the reply after hearing `heard` of it (`ms` milliseconds of speech)."""
        await self.send(
            {"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": ms}
        )

    async def dtmf(self, digit: str, timeout: float = 15.0) -> str:
        """The caller presses `digit`; the reply spoken back."""
        since = time.monotonic()
        await self.send({"type": "dtmf", "digit": digit})
        return await self.reply(since=since, timeout=timeout)

    async def error(self, description: str) -> None:
        await self.send({"type": "error", "description": description})

    async def until_end(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every message up to and including the gateway's `end`."""
        messages = []
        while True:
            message = await self.next(timeout)
            messages.append(message)
            if message.get("type") == "end":
                return messages

    def end_reason(self) -> str | None:
        """The reason in the `end` message's handoffData."""
        if self.end is None:
            return None
        handoff: dict[str, Any] = orjson.loads(self.end["handoffData"])
        return str(handoff.get("reason"))

    async def hang_up(self, duration: int | None = None) -> httpx.Response:
        """The caller hangs up: the socket closes, then Twilio calls the <Connect action> URL."""
        await self.ws.close()
        answer = await self.call.ended("ended", duration)
        assert answer.status_code == 200, answer.text
        return answer

    async def drop(self) -> None:
        """The connection is lost: no close frame, no action callback."""
        self.ws.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.wait_closed(), 5)
