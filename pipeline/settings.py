"""Settings, read once from the environment into one frozen object."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pipeline.client_address import TrustedProxies
from pipeline.errors import ConfigurationError


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


MIN_WIDGET_SECRET_BYTES = 32  # an HMAC-SHA256 key: anything shorter can be guessed more easily than forged


def check_widget_secret(secret: str | None) -> str | None:
    """REVOS_WIDGET_SECRET as given, unless it is too short to sign session tokens with."""
    if secret is not None and len(secret.encode()) < MIN_WIDGET_SECRET_BYTES:
        raise ConfigurationError(
            f"REVOS_WIDGET_SECRET must be at least {MIN_WIDGET_SECRET_BYTES} bytes, got {len(secret.encode())};"
            " make one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
            " (or unset it: a random one is then kept in REVOS_HOME)"
        )
    return secret


POSTGRES_PASSWORD_FILE = "postgres.password"


def _password(path: Path) -> str | None:
    """The embedded PostgreSQL's password (hex), once its first start has made it."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _optional_bool(env: Mapping[str, str], name: str) -> bool | None:
    """Like `_bool`, with "auto" or unset meaning None (decided from the other settings)."""
    if (env.get(name) or "").strip().lower() in ("", "auto"):
        return None
    return _bool(env, name, False)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return None
    if raw not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _signup(env: Mapping[str, str]) -> bool | None:
    raw = (env.get("REVOS_SIGNUP") or "").strip().lower()
    if raw in ("", "auto"):
        return None
    if raw not in ("open", "closed"):
        raise ConfigurationError(f"REVOS_SIGNUP must be open, closed or auto, not {raw!r}")
    return raw == "open"


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _proxies(env: Mapping[str, str]) -> str:
    raw = env.get("REVOS_FORWARDED_ALLOW_IPS") or "127.0.0.1"
    try:
        TrustedProxies.parse(raw)
    except ValueError as exc:
        raise ConfigurationError(f"REVOS_FORWARDED_ALLOW_IPS: {exc}") from exc
    return raw


_LIMITS = (
    "chat_session_per_minute",
    "chat_session_burst",
    "chat_ip_per_minute",
    "chat_new_sessions_per_minute",
    "chat_connects_per_minute",
    "api_key_per_second",
    "api_key_burst",
    "login_per_minute",
    "client_errors_ip_per_minute",
    "client_errors_agent_per_minute",
)


def _public_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("REVOS_PUBLIC_URL") or "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigurationError(
            f"REVOS_PUBLIC_URL must be an origin such as https://revos.example.com, not {raw!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Revos installation."""

    home: Path
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    broker_port: int = 9092
    postgres_port: int = 55432
    kafka_bootstrap: str | None = None
    database_url: str | None = None
    partitions: int = 8
    workers: int = 1
    worker_id: int = 0
    consumer_group: str = "revos"
    # Chat models: any OpenAI-compatible API; without a key, the offline demo provider answers.
    model_base_url: str = "https://openrouter.ai/api/v1"
    model_api_key: str | None = field(default=None, repr=False)
    offline_delay_ms: int = 30
    # Chat sessions: the token secret (None: a random one kept in REVOS_HOME/widget.secret), the
    # socket's heartbeat and the rate limits of docs/chat.md (0: no limit): messages per visitor and
    # per client address, sessions issued and sockets opened per client address.
    widget_secret: str | None = field(default=None, repr=False)
    chat_ping_seconds: float = 20.0
    chat_idle_seconds: float = 45.0
    auth_cache_seconds: float = 5.0
    chat_session_per_minute: int = 10
    chat_session_burst: int = 5
    chat_ip_per_minute: int = 60
    chat_new_sessions_per_minute: int = 30
    chat_connects_per_minute: int = 60
    # Requests per API key across every gateway (docs/api.md#rate-limits; 0: no limit).
    api_key_per_second: float = 1000.0
    api_key_burst: int = 2000
    # Tools may be called only on public addresses unless this is set (local development, tests).
    tools_allow_private: bool = False
    # Proxies whose X-Forwarded-Proto/-For the gateway believes (comma-separated IPs or networks, "*"
    # for any): behind a TLS-terminating proxy the hosted chat page must know it was served as https.
    forwarded_allow_ips: str = "127.0.0.1"
    # Acknowledge writes once PostgreSQL holds them (the transactional outbox). None: exactly when the
    # broker is the embedded one, which keeps nothing across a restart; a replicated Kafka needs no help.
    outbox: bool | None = None
    # How long a clean stop waits for the workers to apply everything acknowledged.
    drain_seconds: float = 60.0
    # The embedded PostgreSQL's password (None: none yet; it is made on its first start, in
    # REVOS_HOME/postgres.password). Keys kept outside the database (None: a random one in REVOS_HOME):
    # the audit chain's seal (audit.key) and the key tool secrets are encrypted with (secrets.key).
    postgres_password: str | None = field(default=None, repr=False)
    audit_key: str | None = field(default=None, repr=False)
    secrets_key: str | None = field(default=None, repr=False)
    # Where the audit chains' heads are written, outside the database (None: REVOS_HOME/audit-heads).
    audit_heads_dir: Path | None = None
    # Dashboard sign-up: True open, False closed, None open exactly while the gateway listens on a
    # loopback address only (a public deployment never starts with open sign-up by accident).
    signup: bool | None = None
    # Dashboard sign-in attempts per email and per client address (0: no limit).
    login_per_minute: int = 10
    # The origin the outside world reaches this gateway at (https://revos.example.com), when it differs
    # from what requests say (behind a proxy): Twilio signs its webhooks over the URL it called.
    public_url: str | None = None
    # A voice call's caller is asked once whether they are still there after this long without a word,
    # and told goodbye after as long again.
    voice_silence_seconds: float = 15.0
    # Webhooks (status and alert): an attempt's timeout; retries from `first` seconds doubling up to `cap`,
    # given up `give_up` seconds after the event; an alert endpoint whose every attempt failed for
    # `disable` seconds (and at least `disable_failures` attempts) is disabled.
    webhook_timeout_seconds: float = 10.0
    webhook_retry_first_seconds: float = 5.0
    webhook_retry_cap_seconds: float = 3600.0
    webhook_give_up_seconds: float = 24 * 3600.0
    webhook_disable_seconds: float = 24 * 3600.0
    webhook_disable_failures: int = 5
    # Tracing: over OTLP when the standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set (the exporter reads
    # the rest of OTEL_* itself); finished spans as JSON lines into REVOS_TRACE_FILE. Off otherwise.
    otlp_traces: bool = False
    trace_file: Path | None = None
    # Each worker serves Prometheus metrics on this port plus its worker id; 0: none.
    worker_metrics_port: int = 0
    # Logs (docs/runbook.md#logs): "json" or "text" (None: json, except a command run in a terminal);
    # "files" (each process's lines in REVOS_HOME/logs) or "stdout" (container platforms).
    log_format: str | None = None
    log_to: str = "files"
    # Error reports from browsers (POST /v1/client-errors) per client address and per agent (0: no limit).
    client_errors_ip_per_minute: int = 30
    client_errors_agent_per_minute: int = 300

    def __post_init__(self) -> None:
        for name in _LIMITS:
            if getattr(self, name) < 0:
                raise ConfigurationError(f"REVOS_{name.upper()} must be 0 (no limit) or more")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("REVOS_HOME") or "./.revos").resolve()
        heads = env.get("REVOS_AUDIT_HEADS_DIR")
        return cls(
            home=home,
            gateway_host=env.get("REVOS_GATEWAY_HOST") or "127.0.0.1",
            gateway_port=_int(env, "REVOS_GATEWAY_PORT", 8080),
            broker_port=_int(env, "REVOS_BROKER_PORT", 9092),
            postgres_port=_int(env, "REVOS_POSTGRES_PORT", 55432),
            kafka_bootstrap=env.get("REVOS_KAFKA_BOOTSTRAP") or None,
            database_url=env.get("REVOS_DATABASE_URL") or None,
            partitions=_int(env, "REVOS_PARTITIONS", 8),
            workers=_int(env, "REVOS_WORKERS", 1),
            consumer_group=env.get("REVOS_CONSUMER_GROUP") or "revos",
            model_base_url=env.get("REVOS_MODEL_BASE_URL") or "https://openrouter.ai/api/v1",
            model_api_key=env.get("REVOS_MODEL_API_KEY") or None,
            offline_delay_ms=_int(env, "REVOS_OFFLINE_DELAY_MS", 30),
            widget_secret=check_widget_secret(env.get("REVOS_WIDGET_SECRET") or None),
            chat_ping_seconds=_float(env, "REVOS_CHAT_PING_SECONDS", 20.0),
            chat_idle_seconds=_float(env, "REVOS_CHAT_IDLE_SECONDS", 45.0),
            auth_cache_seconds=_float(env, "REVOS_AUTH_CACHE_SECONDS", 5.0),
            chat_session_per_minute=_int(env, "REVOS_CHAT_SESSION_PER_MINUTE", 10),
            chat_session_burst=_int(env, "REVOS_CHAT_SESSION_BURST", 5),
            chat_ip_per_minute=_int(env, "REVOS_CHAT_IP_PER_MINUTE", 60),
            chat_new_sessions_per_minute=_int(env, "REVOS_CHAT_NEW_SESSIONS_PER_MINUTE", 30),
            chat_connects_per_minute=_int(env, "REVOS_CHAT_CONNECTS_PER_MINUTE", 60),
            api_key_per_second=_float(env, "REVOS_API_KEY_PER_SECOND", 1000.0),
            api_key_burst=_int(env, "REVOS_API_KEY_BURST", 2000),
            tools_allow_private=_bool(env, "REVOS_TOOLS_ALLOW_PRIVATE", False),
            forwarded_allow_ips=_proxies(env),
            outbox=_optional_bool(env, "REVOS_OUTBOX"),
            drain_seconds=_float(env, "REVOS_DRAIN_SECONDS", 60.0),
            postgres_password=_password(home / POSTGRES_PASSWORD_FILE),
            audit_key=env.get("REVOS_AUDIT_KEY") or None,
            secrets_key=env.get("REVOS_SECRETS_KEY") or None,
            audit_heads_dir=Path(heads).resolve() if heads else None,
            signup=_signup(env),
            login_per_minute=_int(env, "REVOS_LOGIN_PER_MINUTE", 10),
            public_url=_public_url(env),
            voice_silence_seconds=_float(env, "REVOS_VOICE_SILENCE_SECONDS", 15.0),
            webhook_timeout_seconds=_float(env, "REVOS_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_retry_first_seconds=_float(env, "REVOS_WEBHOOK_RETRY_FIRST_SECONDS", 5.0),
            webhook_retry_cap_seconds=_float(env, "REVOS_WEBHOOK_RETRY_CAP_SECONDS", 3600.0),
            webhook_give_up_seconds=_float(env, "REVOS_WEBHOOK_GIVE_UP_SECONDS", 24 * 3600.0),
            webhook_disable_seconds=_float(env, "REVOS_WEBHOOK_DISABLE_SECONDS", 24 * 3600.0),
            webhook_disable_failures=_int(env, "REVOS_WEBHOOK_DISABLE_FAILURES", 5),
            otlp_traces=bool(
                env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            ),
            trace_file=Path(trace).resolve() if (trace := env.get("REVOS_TRACE_FILE")) else None,
            worker_metrics_port=_int(env, "REVOS_WORKER_METRICS_PORT", 0),
            log_format=_choice(env, "REVOS_LOG_FORMAT", ("json", "text")),
            log_to=_choice(env, "REVOS_LOG_TO", ("files", "stdout")) or "files",
            client_errors_ip_per_minute=_int(env, "REVOS_CLIENT_ERRORS_IP_PER_MINUTE", 30),
            client_errors_agent_per_minute=_int(env, "REVOS_CLIENT_ERRORS_AGENT_PER_MINUTE", 300),
        )

    @property
    def signup_open(self) -> bool:
        """Whether anyone reaching the dashboard may create a tenant."""
        if self.signup is not None:
            return self.signup
        return is_loopback(self.gateway_host)

    @property
    def trusted_proxies(self) -> TrustedProxies:
        return TrustedProxies.parse(self.forwarded_allow_ips)

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def uses_outbox(self) -> bool:
        """Whether an acknowledgement rests on PostgreSQL (the outbox) rather than on the broker alone."""
        return self.embedded_broker if self.outbox is None else self.outbox

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.broker_port}"

    @property
    def dsn(self) -> str:
        if self.database_url:
            return self.database_url
        login = "postgres" if self.postgres_password is None else f"postgres:{self.postgres_password}"
        return f"postgresql://{login}@127.0.0.1:{self.postgres_port}/revos"

    @property
    def shown_dsn(self) -> str:
        """The DSN with its password masked, for banners and status output."""
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def audit_heads(self) -> Path:
        return self.audit_heads_dir or self.home / "audit-heads"
