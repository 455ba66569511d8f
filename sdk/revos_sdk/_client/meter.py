"""The `@meter` decorator: one outcome event per successful call, computed from the return value."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

log = logging.getLogger("revos_sdk")

F = TypeVar("F", bound=Callable[..., Any])

CustomerSpec = str | Callable[[Any], str]
QuantitySpec = Any  # int | Decimal | str, or a callable of the result returning one
PropertiesSpec = Mapping[str, Any] | Callable[[Any], Mapping[str, Any] | None] | None


class Tracker(Protocol):
    """Anything with the `track()` signature of Revos and AsyncRevos."""

    def track(
        self,
        customer: str,
        type: str,
        quantity: Any = 1,
        properties: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        id: str | None = None,
    ) -> str: ...

    def _count_invalid(self) -> None: ...


def _emit(
    client: Tracker,
    type: str,
    customer: CustomerSpec,
    quantity: QuantitySpec,
    properties: PropertiesSpec,
    result: Any,
    where: str,
) -> None:
    try:
        client.track(
            customer(result) if callable(customer) else customer,
            type,
            quantity(result) if callable(quantity) else quantity,
            properties(result) if callable(properties) else properties,
        )
    except Exception:
        # The metered call already succeeded; failing it now would make the caller redo real work.
        client._count_invalid()
        log.exception("could not meter %r for %s; the call's result was returned unchanged", type, where)


def meter(
    client: Tracker,
    type: str,
    customer: CustomerSpec,
    quantity: QuantitySpec = 1,
    properties: PropertiesSpec = None,
) -> Callable[[F], F]:
    """Decorate a sync or async function to track one `type` event each time it returns (not raises).

    `customer`, `quantity` and `properties` are values or callables of the function's return value.
    """

    def decorate(fn: F) -> F:
        where = getattr(fn, "__qualname__", repr(fn))
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                result = await fn(*args, **kwargs)
                _emit(client, type, customer, quantity, properties, result, where)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            _emit(client, type, customer, quantity, properties, result, where)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
