"""What the browser tests share with their fixtures: the agent's branding, the host pages' site."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

CHROMIUM = shutil.which("chromium")

BRANDING = {
    "title": "Acme help",
    "primary_color": "#0f766e",
    "greeting": "Hi! How can I help?",
    "suggestions": ["What does it cost?", "Talk to sales"],
}


@dataclass
class Site:
    """Host pages by path, served the same on every `*.test` hostname."""

    port: int
    pages: dict[str, str] = field(default_factory=dict)

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"


@dataclass(frozen=True)
class Agent:
    agent_id: str
    gateway: str  # the gateway's base URL, where widget.js and the hosted page live

    def script_tag(self) -> str:
        return f'<script src="{self.gateway}/widget.js" data-agent="{self.agent_id}" async></script>'
