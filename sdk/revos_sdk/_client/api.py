"""Typed helpers for the synchronous parts of the API: credit grants, balances, burn tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from revos_sdk._config import Config
from revos_sdk._delivery.backoff import Backoff
from revos_sdk._errors import ApiError, is_retryable
from revos_sdk._transports.http import client_headers, error_from_response, transport_error

Money = Decimal | int | str
MAX_ATTEMPTS = 4


def _money(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"{name} must be a Decimal, int or decimal string, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return str(amount)


def _time(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("datetimes sent to Revos must be timezone-aware")
    return value.isoformat()


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _decimal(value: object) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


@dataclass(frozen=True, slots=True)
class Grant:
    """A credit grant as the API returned it; `raw` keeps every field."""

    id: str
    customer: str
    amount: Decimal
    priority: int | None = None
    effective_at: datetime | None = None
    expires_at: datetime | None = None
    reason: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], customer: str = "") -> Grant:
        """Parse a grant object; amounts are exact Decimals."""
        return cls(
            id=str(raw.get("id", "")),
            customer=str(raw.get("customer", customer)),
            amount=_decimal(raw.get("amount")),
            priority=raw.get("priority"),
            effective_at=_parse_time(raw.get("effective_at")),
            expires_at=_parse_time(raw.get("expires_at")),
            reason=raw.get("reason"),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """A customer's spendable credits and the grants behind them."""

    customer: str
    balance: Decimal
    grants: tuple[Grant, ...] = ()
    as_of: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Balance:
        """Parse a balance answer; the balance is an exact Decimal."""
        customer = str(raw.get("customer", ""))
        grants = tuple(
            Grant.from_json(g, customer) for g in raw.get("grants") or () if isinstance(g, Mapping)
        )
        return cls(customer, _decimal(raw.get("balance")), grants, _parse_time(raw.get("as_of")), raw)


@dataclass(frozen=True, slots=True)
class BurnRule:
    """Credits (and optionally cost) per unit of events of `type` whose properties equal `match`."""

    type: str
    credits_per_unit: Money
    match: Mapping[str, str | int | bool] | None = None
    cost_per_unit: Money | None = None

    def to_json(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "type": self.type,
            "credits_per_unit": _money("credits_per_unit", self.credits_per_unit),
        }
        if self.match:
            rule["match"] = dict(self.match)
        if self.cost_per_unit is not None:
            rule["cost_per_unit"] = _money("cost_per_unit", self.cost_per_unit)
        return rule


@dataclass(frozen=True, slots=True)
class BurnTableVersion:
    """The version a burn-table publication created."""

    name: str
    version: int
    effective_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BurnTableVersion:
        return cls(
            str(raw.get("name", "")), int(raw.get("version", 0)), _parse_time(raw.get("effective_at")), raw
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One API request, how to parse its answer, and whether resending it after an unclear failure is safe."""

    method: str
    path: str
    parse: Callable[[Mapping[str, Any]], Any]
    body: Mapping[str, Any] | None = None
    idempotent: bool = True


def grant_call(
    customer: str,
    amount: Money,
    *,
    id: str | None = None,
    priority: int | None = None,
    effective_at: datetime | str | None = None,
    expires_at: datetime | str | None = None,
    reason: str | None = None,
) -> Call:
    """POST /v1/customers/{customer}/grants; an id is always sent, so a retry cannot grant twice."""
    if not isinstance(customer, str) or not customer:
        raise ValueError("customer must be a non-empty string")
    body: dict[str, Any] = {"id": id or f"gr_{uuid.uuid4().hex}", "amount": _money("amount", amount)}
    optional = {
        "priority": priority,
        "effective_at": _time(effective_at),
        "expires_at": _time(expires_at),
        "reason": reason,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return Call(
        "POST",
        f"/v1/customers/{quote(customer, safe='')}/grants",
        lambda raw: Grant.from_json(raw, customer),
        body,
    )


def balance_call(customer: str) -> Call:
    """GET /v1/customers/{customer}/balance."""
    if not isinstance(customer, str) or not customer:
        raise ValueError("customer must be a non-empty string")
    return Call("GET", f"/v1/customers/{quote(customer, safe='')}/balance", Balance.from_json)


def burn_table_call(name: str, rules: Sequence[BurnRule], effective_at: datetime | str | None = None) -> Call:
    """PUT /v1/burn-tables/{name}; a publication may create a version, so only unsent requests are retried."""
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    if not rules:
        raise ValueError("a burn table needs at least one rule")
    body: dict[str, Any] = {"rules": [rule.to_json() for rule in rules]}
    if effective_at is not None:
        body["effective_at"] = _time(effective_at)
    return Call(
        "PUT", f"/v1/burn-tables/{quote(name, safe='')}", BurnTableVersion.from_json, body, idempotent=False
    )


def _retryable(call: Call) -> Callable[[BaseException], bool]:
    def predicate(error: BaseException) -> bool:
        if call.idempotent:
            return is_retryable(error)
        # Not idempotent: retry only when the server surely did not act on the request.
        return isinstance(error, ApiError) and (error.code == "connect_error" or error.status in (429, 503))

    return predicate


def _wait(backoff: Backoff) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return backoff.delay(state.attempt_number, getattr(error, "retry_after", None))

    return wait


def _answer(call: Call, response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.headers, response.content, ApiError)
    try:
        # parse_float=Decimal: money in answers stays exact even if sent as a JSON number.
        raw = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ApiError("the API answered with a non-JSON body", status=response.status_code) from None
    return call.parse(raw)


def require_api_key(config: Config) -> None:
    """The API helpers call the gateway, which needs a key even when events go through Kafka."""
    if not config.api_key:
        raise ValueError("the API helpers call the gateway: pass api_key=... or set REVOS_API_KEY")


class SyncApi:
    """Runs Calls with an httpx.Client and tenacity retries."""

    def __init__(self, config: Config) -> None:
        self._backoff = Backoff(config.backoff_base, config.backoff_max, config.max_retry_after)
        self._client = httpx.Client(
            base_url=config.base_url, headers=client_headers(config.api_key), timeout=config.request_timeout
        )

    def run(self, call: Call) -> Any:
        """Send `call`, retrying transient failures; raises ApiError."""
        retrying = Retrying(
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=_wait(self._backoff),
            retry=retry_if_exception(_retryable(call)),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                try:
                    response = self._client.request(call.method, call.path, json=call.body)
                except httpx.HTTPError as exc:
                    raise transport_error(exc, ApiError) from exc
                return _answer(call, response)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def close(self) -> None:
        self._client.close()


class AsyncApi:
    """Runs Calls with an httpx.AsyncClient and tenacity retries."""

    def __init__(self, config: Config) -> None:
        self._backoff = Backoff(config.backoff_base, config.backoff_max, config.max_retry_after)
        self._client = httpx.AsyncClient(
            base_url=config.base_url, headers=client_headers(config.api_key), timeout=config.request_timeout
        )

    async def run(self, call: Call) -> Any:
        """Send `call`, retrying transient failures; raises ApiError."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=_wait(self._backoff),
            retry=retry_if_exception(_retryable(call)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    response = await self._client.request(call.method, call.path, json=call.body)
                except httpx.HTTPError as exc:
                    raise transport_error(exc, ApiError) from exc
                return _answer(call, response)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def aclose(self) -> None:
        await self._client.aclose()
