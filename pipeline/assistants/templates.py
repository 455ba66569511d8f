"""The shipped assistant templates (support, sales, onboarding) and the rule a `template` field must meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.assistants import fields

DEFAULT_MODEL = "openrouter/auto"


@dataclass(frozen=True, slots=True)
class Template:
    """A starting point: fills the prompt, greeting and suggestions a request does not give (and the
    model, when an assistant is created without one)."""

    system_prompt: str
    greeting: str
    suggestions: tuple[str, ...]
    model: str = DEFAULT_MODEL


TEMPLATES: Mapping[str, Template] = {
    "support": Template(
        system_prompt=(
            "You are a customer support assistant. Answer questions about the product clearly and "
            "briefly, using the tools you have to look things up. If you do not know the answer or "
            "the visitor needs a person, say so and suggest contacting the support team."
        ),
        greeting="Hi! How can I help you today?",
        suggestions=("I have a problem with my order", "How do I reset my password?", "Talk to a person"),
    ),
    "sales": Template(
        system_prompt=(
            "You are a friendly sales assistant. Help visitors understand the product, its plans and "
            "prices, and whether it fits their needs. Be honest about what it does not do, never "
            "invent prices or features, and offer to arrange a call with the sales team."
        ),
        greeting="Hi! Looking for the right plan? Ask me anything.",
        suggestions=("Which plan is right for me?", "How much does it cost?", "Book a demo"),
    ),
    "onboarding": Template(
        system_prompt=(
            "You are an onboarding guide. Help new users get started step by step: ask what they want "
            "to achieve, explain one step at a time, and check that each step worked before moving on."
        ),
        greeting="Welcome! Let's get you set up. What would you like to do first?",
        suggestions=("Where do I start?", "Connect my account", "Invite my team"),
    ),
}


def template(raw: object) -> str | None:
    """A template name from the API: one of `TEMPLATES`, or null for none."""
    if raw is None:
        return None
    if not isinstance(raw, str) or raw not in TEMPLATES:
        raise fields.fail("template", f"template must be one of: {', '.join(sorted(TEMPLATES))}")
    return raw
