"""The arguments of a tool's test call: an object, as a model sends them; nothing else."""

from __future__ import annotations

import pytest

from pipeline.assistants.tools import arguments_to_test
from pipeline.errors import ValidationError


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {}),
        ({"arguments": None}, {}),
        ({"arguments": {}}, {}),
        ({"arguments": {"order_id": "A-1", "items": [1, 2]}}, {"order_id": "A-1", "items": [1, 2]}),
    ],
)
def test_the_arguments_are_an_object_and_none_means_empty(body: object, expected: dict[str, object]) -> None:
    assert arguments_to_test(body) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "invalid_arguments"),
        ({"arguments": []}, "invalid_arguments"),
        ({"arguments": "{}"}, "invalid_arguments"),
        ({"arguments": {}, "tool": "x"}, "unknown_field"),
    ],
)
def test_anything_else_is_refused_with_its_code(body: object, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        arguments_to_test(body)
    assert refused.value.code == code
