"""Routes of the assistants API: agents and their conversations."""
