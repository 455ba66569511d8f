"""Unit tests of pipeline/admin/."""
