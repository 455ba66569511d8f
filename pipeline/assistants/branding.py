"""How an assistant's chat widget looks from API input: logo, colour, title, greeting and suggestions."""

from __future__ import annotations

import re

from pipeline.assistants import fields
from pipeline.records import AssistantBranding

MAX_TITLE = 100
MAX_GREETING = 1_000
MAX_SUGGESTIONS = 6
MAX_SUGGESTION = 200

BRANDING_FIELDS = frozenset({"logo_url", "primary_color", "title", "greeting", "suggestions"})

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _optional_text(raw: object, most: int, at: str) -> str | None:
    return None if raw is None else fields.text(raw, "branding", most=most, at=at)


def branding(raw: object) -> AssistantBranding:
    if not isinstance(raw, dict):
        raise fields.fail("branding", "branding must be an object")
    fields.no_unknown(raw, BRANDING_FIELDS, "branding")
    color = raw.get("primary_color")
    if color is not None and (not isinstance(color, str) or not _COLOR.fullmatch(color)):
        raise fields.fail(
            "branding", "branding.primary_color must look like #rrggbb", at="branding.primary_color"
        )
    logo = raw.get("logo_url")
    suggestions = raw.get("suggestions", [])
    if not isinstance(suggestions, list) or len(suggestions) > MAX_SUGGESTIONS:
        raise fields.fail(
            "branding",
            f"branding.suggestions must be an array of at most {MAX_SUGGESTIONS} strings",
            at="branding.suggestions",
        )
    return AssistantBranding(
        logo_url=None if logo is None else fields.http_url(logo, "branding", at="branding.logo_url"),
        primary_color=color,
        title=_optional_text(raw.get("title"), MAX_TITLE, "branding.title"),
        greeting=_optional_text(raw.get("greeting"), MAX_GREETING, "branding.greeting"),
        suggestions=[
            fields.text(s, "branding", most=MAX_SUGGESTION, at=f"branding.suggestions[{i}]")
            for i, s in enumerate(suggestions)
        ],
    )
