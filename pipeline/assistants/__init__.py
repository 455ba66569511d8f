"""Assistants: the assistant model and its fields, tools, branding, templates, allowlist and tool secrets."""
