"""Validation of billing requests: raw JSON in, a record or a ValidationError out."""
