"""An assistant's phone line from API input: `"voice": {...}` on POST/PATCH /v1/agents.

A voice object replaces the whole line (null removes it); a status webhook keeps its signing secret
while it keeps a URL, and gets a new one (shown once) when it first gets one.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pipeline.assistants import fields
from pipeline.errors import ValidationError
from pipeline.records import AssistantVoice

FIELDS = frozenset(
    {
        "phone_number",
        "language",
        "tts_provider",
        "voice",
        "transcription_provider",
        "welcome_greeting",
        "interruptible",
        "max_call_seconds",
        "status_webhook_url",
    }
)
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")
# What ConversationRelay offers; names are matched without regard to case and stored as Twilio spells them.
TTS_PROVIDERS = ("ElevenLabs", "Google", "Amazon")
TRANSCRIPTION_PROVIDERS = ("Deepgram", "Google")
MAX_VOICE = 100
MAX_GREETING = 1_000
MIN_CALL_SECONDS = 5
MAX_CALL_SECONDS = 4 * 3600  # Twilio's own limit on a call
SECRET_PREFIX = "whsec_"  # the Standard Webhooks form: whsec_ + base64 of the key
SECRET_BYTES = 24


def _fail(name: str, message: str) -> ValidationError:
    return fields.fail("voice", message, at=f"voice.{name}")


def phone_number(raw: object) -> str:
    if not isinstance(raw, str) or not E164.match(raw):
        raise _fail("phone_number", "voice.phone_number must be an E.164 number such as +14155550100")
    return raw


def _choice(raw: object, name: str, options: tuple[str, ...]) -> str:
    for option in options:
        if isinstance(raw, str) and raw.lower() == option.lower():
            return option
    raise _fail(name, f"voice.{name} must be one of {', '.join(options)}")


def _language(raw: object) -> str:
    if not isinstance(raw, str) or not LANGUAGE.match(raw):
        raise _fail("language", "voice.language must be a language tag such as en-US")
    return raw


def _seconds(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not MIN_CALL_SECONDS <= raw <= MAX_CALL_SECONDS:
        raise _fail(
            "max_call_seconds", f"voice.max_call_seconds must be a whole number from {MIN_CALL_SECONDS} "
            f"to {MAX_CALL_SECONDS}"
        )  # fmt: skip
    return raw


def _optional_text(raw: object, name: str, most: int) -> str | None:
    return None if raw is None else fields.text(raw, "voice", most=most, at=f"voice.{name}")


def new_secret() -> str:
    """A signing key in the Standard Webhooks form: standard base64 (not the URL-safe alphabet, whose
    `-` and `_` receivers' decoders drop or refuse)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def voice(raw: object, current: AssistantVoice | None) -> AssistantVoice | None:
    """The phone line a request's `voice` gives (None: no phone line)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fields.fail("voice", "voice must be an object or null")
    body: Mapping[str, Any] = raw
    fields.no_unknown(body, FIELDS, "voice")
    if "phone_number" not in body:
        raise _fail("phone_number", "voice.phone_number is required")
    line = AssistantVoice(phone_number=phone_number(body["phone_number"]))
    if "language" in body:
        line = replace(line, language=_language(body["language"]))
    if "tts_provider" in body:
        line = replace(line, tts_provider=_choice(body["tts_provider"], "tts_provider", TTS_PROVIDERS))
    if "transcription_provider" in body:
        choice = _choice(body["transcription_provider"], "transcription_provider", TRANSCRIPTION_PROVIDERS)
        line = replace(line, transcription_provider=choice)
    if "voice" in body:
        line = replace(line, voice=_optional_text(body["voice"], "voice", MAX_VOICE))
    if "welcome_greeting" in body:
        line = replace(
            line, welcome_greeting=_optional_text(body["welcome_greeting"], "welcome_greeting", MAX_GREETING)
        )
    if "interruptible" in body:
        if not isinstance(body["interruptible"], bool):
            raise _fail("interruptible", "voice.interruptible must be true or false")
        line = replace(line, interruptible=body["interruptible"])
    if "max_call_seconds" in body:
        line = replace(line, max_call_seconds=_seconds(body["max_call_seconds"]))
    url = body.get("status_webhook_url")
    if url is not None:
        url = fields.http_url(url, "voice", at="voice.status_webhook_url")
        kept = current.status_webhook_secret if current is not None else None
        line = replace(line, status_webhook_url=url, status_webhook_secret=kept or new_secret())
    return line


def public(line: AssistantVoice | None) -> dict[str, Any] | None:
    """The API's view of a phone line: the webhook's secret replaced by whether one is set."""
    if line is None:
        return None
    return {
        "phone_number": line.phone_number,
        "language": line.language,
        "tts_provider": line.tts_provider,
        "voice": line.voice,
        "transcription_provider": line.transcription_provider,
        "welcome_greeting": line.welcome_greeting,
        "interruptible": line.interruptible,
        "max_call_seconds": line.max_call_seconds,
        "status_webhook_url": line.status_webhook_url,
        "status_webhook_secret_set": line.status_webhook_secret is not None,
    }
