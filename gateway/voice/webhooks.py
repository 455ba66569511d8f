"""Twilio's webhooks: the number's voice URL (answered with TwiML that connects the call to the relay
socket), the `<Connect action>` URL called when the relay session ends, and the status callbacks.

Twilio retries a webhook and may deliver it twice or out of order: each is recorded as a call event
whose id the call and the fact make, so a repeat is the same record, and the calls projection folds
them in any order. A caller never hears an error page: what cannot be connected is told so and hung up.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response
from twilio.twiml.voice_response import Connect, VoiceResponse

from gateway.billing.entitlements import evaluate
from gateway.http.errors import ApiError
from gateway.services import Services, services
from gateway.voice import twilio
from gateway.voice.events import call_event, record
from pipeline.assistants.model import Assistant
from pipeline.billing.entitlements import CheckRequest
from pipeline.voice import call_tokens, calls
from projections.chat import assistants
from projections.voice import reads

log = logging.getLogger(__name__)

CALL_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_FORM = 64 * 1024  # Twilio's webhooks are a few hundred bytes
NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
UNAVAILABLE = "Sorry, this assistant is not available right now. Please call again later. Goodbye."
OUT_OF_CREDITS = "Sorry, this assistant cannot take calls right now. Please try again later. Goodbye."


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="text/xml")


def say_and_hang_up(text: str) -> Response:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return twiml(response)


async def _form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM:
        raise ApiError(413, "body_too_large", f"request body exceeds {MAX_FORM} bytes")
    form = await request.form(max_files=0, max_fields=200)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if any("\x00" in k or "\x00" in v for k, v in fields.items()):  # never from Twilio; PostgreSQL refuses it
        raise ApiError(400, "invalid_form", "form fields must not contain NUL characters")
    return fields


def _call_sid(form: dict[str, str]) -> str:
    sid = form.get("CallSid", "")
    if not CALL_SID.match(sid):
        raise ApiError(
            400, "invalid_call_sid", "CallSid must be a Twilio call SID (letters, digits, _ and -)"
        )
    return sid


def _checked(svc: Services, request: Request, line: twilio.Line | None, form: dict[str, str]) -> twilio.Line:
    if (
        line is None
        or form.get("AccountSid") != line.account_sid
        or not twilio.signed(svc, request, line, form)
    ):
        raise twilio.refuse_unsigned()
    return line


async def incoming(request: Request) -> Response:
    """POST /v1/voice/twilio/incoming: the number's voice URL."""
    svc = services(request)
    form = await _form(request)
    call_sid = _call_sid(form)
    agent = await assistants.by_phone_number(svc.pool, form.get("To", ""))
    if agent is None or agent.voice is None:
        log.warning("call %s to %r: no agent has this number", call_sid, form.get("To"))
        return say_and_hang_up(NOT_IN_SERVICE)
    line = await twilio.line_of(svc, agent)
    if line is None:  # nothing to check the signature with: say only what any caller may hear
        log.warning("call %s to agent %s: its tenant has no Twilio account set", call_sid, agent.agent_id)
        return say_and_hang_up(UNAVAILABLE)
    _checked(svc, request, line, form)
    ringing = call_event(
        agent.tenant_id, agent.agent_id, call_sid, calls.STATE, calls.RINGING,
        state=calls.RINGING, from_number=form.get("From"), to_number=form.get("To"), customer=agent.customer,
    )  # fmt: skip
    if agent.customer is not None:
        verdict, _ = await evaluate(
            svc, agent.tenant_id, CheckRequest(agent.customer, None), datetime.now(UTC)
        )
        if not verdict.allowed:
            log.info("call %s: customer %s may not spend (%s)", call_sid, agent.customer, verdict.reason)
            refused = call_event(
                agent.tenant_id, agent.agent_id, call_sid, calls.ENDED,
                end_reason=calls.OUT_OF_CREDITS, detail=verdict.reason,
            )  # fmt: skip
            await record(svc, ringing, refused)
            return say_and_hang_up(OUT_OF_CREDITS)
    await record(svc, ringing)
    return twiml(_connect(svc, request, line, call_sid))


def _connect(svc: Services, request: Request, line: twilio.Line, call_sid: str) -> VoiceResponse:
    agent = line.agent
    voice = agent.voice
    assert voice is not None
    token = call_tokens.issue(svc.chat.secret, agent.tenant_id, agent.agent_id, call_sid, datetime.now(UTC))
    base = twilio.public_base(svc, request)
    socket = twilio.public_base(svc, request, websocket=True)
    connect = Connect(action=f"{base}/v1/voice/twilio/ended?agent_id={agent.agent_id}")
    settings = {
        "language": voice.language,
        "tts_provider": voice.tts_provider,
        "transcription_provider": voice.transcription_provider,
        "interruptible": "any" if voice.interruptible else "none",
        "dtmf_detection": True,
    }
    if voice.voice:
        settings["voice"] = voice.voice
    if voice.welcome_greeting:
        settings["welcome_greeting"] = voice.welcome_greeting
    relay = connect.conversation_relay(url=f"{socket}/v1/voice/relay?agent_id={agent.agent_id}", **settings)
    relay.parameter(name="call_token", value=token)
    response = VoiceResponse()
    response.append(connect)
    return response


async def ended(request: Request) -> Response:
    """POST /v1/voice/twilio/ended?agent_id=…: the relay session ended (Twilio's `<Connect action>`)."""
    svc = services(request)
    form = await _form(request)
    call_sid = _call_sid(form)
    line = _checked(svc, request, await twilio.line_of(svc, await _agent_of(svc, request, call_sid)), form)
    status = form.get("SessionStatus", "")
    detail = status
    if form.get("ErrorCode"):
        detail = f"{status}: error {form['ErrorCode']} {form.get('ErrorMessage', '')}".strip()
    event = call_event(
        line.agent.tenant_id, line.agent.agent_id, call_sid, calls.SESSION_ENDED, form.get("SessionId", ""),
        detail=detail[:500], duration_seconds=_seconds(form.get("SessionDuration")),
    )  # fmt: skip
    await record(svc, event)
    response = VoiceResponse()
    response.hangup()
    return twiml(response)


async def status(request: Request) -> Response:
    """POST /v1/voice/twilio/status: a call status callback."""
    svc = services(request)
    form = await _form(request)
    call_sid = _call_sid(form)
    agent = await _agent_of(svc, request, call_sid) or await assistants.by_phone_number(
        svc.pool, form.get("To", "")
    )
    line = _checked(svc, request, await twilio.line_of(svc, agent), form)
    state = form.get("CallStatus", "")
    if state not in calls.RANK:
        raise ApiError(400, "invalid_call_status", f"CallStatus must be one of {', '.join(calls.STATES)}")
    event = call_event(
        line.agent.tenant_id, line.agent.agent_id, call_sid, calls.STATE, state,
        state=state, from_number=form.get("From"), to_number=form.get("To"), customer=line.agent.customer,
        duration_seconds=_seconds(form.get("CallDuration")) if state == calls.COMPLETED else None,
        occurred_at=_twilio_time(form.get("Timestamp")),
    )  # fmt: skip
    await record(svc, event)
    return Response(status_code=204)


async def _agent_of(svc: Services, request: Request, call_sid: str) -> Assistant | None:
    """The agent a callback is about: named in the URL we gave Twilio, or the one the call was made to."""
    named = await twilio.agent_named(svc, request.query_params.get("agent_id"))
    if named is not None:
        return named
    found = await reads.owner(svc.pool, call_sid)
    return None if found is None else await assistants.load(svc.pool, *found)


def _twilio_time(raw: str | None) -> datetime | None:
    """When Twilio says a status happened (its `Timestamp`, RFC 2822): a late callback keeps its place in
    the call's history. None (the time it arrived) when absent or unreadable."""
    if not raw:
        return None
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return at.astimezone(UTC) if at.tzinfo is not None else None


def _seconds(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() and len(raw) < 10 else None
