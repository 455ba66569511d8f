"""Unit tests of pipeline/billing/."""
