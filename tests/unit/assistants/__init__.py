"""Unit tests of pipeline/assistants/."""
