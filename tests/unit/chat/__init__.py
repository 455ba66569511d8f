"""Unit tests of pipeline/chat/."""
