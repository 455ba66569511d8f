"""The embedded broker and PostgreSQL, the home lock and the launcher, driven as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.broker import EmbeddedBroker
from infra.errors import HomeLockedError, PortInUseError, StartupError
from infra.home import HomeLock
from infra.ports import free_port
from infra.postgres import EmbeddedPostgres
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# A launcher whose children are trivial commands (argv[1], JSON {name: argv}); infra and lifecycle are real.
LAUNCHER = """
import json, logging, sys
from infra.launcher import run_stack
from infra.processes import ChildSpec
from pipeline.settings import Settings

async def prepare(settings):
    pass

logging.basicConfig(level=logging.INFO)
children = [ChildSpec(name, argv) for name, argv in json.loads(sys.argv[1]).items()]
sys.exit(run_stack(Settings.from_env(), children=children, prepare=prepare))
"""


class _Broker(Protocol):
    bootstrap_servers: str


class _Database(Protocol):
    dsn: str


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    # A zombie has exited; it only waits for a parent (maybe init) to reap it.
    try:
        status: str = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return False
    return bool(status != psutil.STATUS_ZOMBIE)


def _env(home: Path, *, broker_port: int, postgres_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REVOS_")}
    env.update(
        REVOS_HOME=str(home),
        REVOS_BROKER_PORT=str(broker_port),
        REVOS_POSTGRES_PORT=str(postgres_port),
        PYTHONPATH=str(ROOT),
    )
    return env


def _cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "infra.cli.stack", *args]


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run one `infra.cli.stack` command: its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        *_cli_argv(*args), env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class _Launcher:
    """`run_stack` in a subprocess, on its own home and free ports."""

    def __init__(self, home: Path, tmp_path: Path, children: dict[str, list[str]]) -> None:
        self.home = home
        self.env = _env(self.home, broker_port=free_port(), postgres_port=free_port())
        self.output = tmp_path / "launcher.out"
        self.started: list[psutil.Process] = []
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, json.dumps(children)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_running(self) -> list[psutil.Process]:
        """Wait for the banner; then every process the launcher started, backends included."""
        _wait_for(
            lambda: "Revos is running" in self.output.read_text() or self.process.poll() is not None,
            60,
            "the launcher's banner",
        )
        assert self.process.poll() is None, self.output.read_text()
        self.started = psutil.Process(self.process.pid).children(recursive=True)
        return self.started

    def close(self) -> None:
        """Kill the launcher and, should the test have failed, whatever it left behind."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for proc in self.started:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


@pytest.fixture
def launcher(revos_home: Path, tmp_path: Path) -> Iterator[_Launcher]:
    started = _Launcher(revos_home, tmp_path, {"sleeper-0": ["sleep", "300"], "sleeper-1": ["sleep", "300"]})
    yield started
    started.close()


async def test_broker_round_trip(broker: _Broker) -> None:
    servers = broker.bootstrap_servers
    topic = f"infra-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"value", key=b"key")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"key", b"value")


async def test_postgres_answers(postgres: _Database) -> None:
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


async def test_database_fixture_gives_a_fresh_empty_database(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        assert (await conn.fetchval("SELECT current_database()")).startswith("test_")
        tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables == 0
    finally:
        await conn.close()


async def test_postgres_restart_on_the_same_data_keeps_it(revos_home: Path) -> None:
    server = EmbeddedPostgres(revos_home, free_port())
    server.start()
    try:
        conn = await asyncpg.connect(server.dsn)
        try:
            await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        first = server.pid
        assert first is not None
        server.stop()
        assert not server.is_running()
        assert not _alive(first)

        server.start()
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("SELECT n FROM kept") == 42
        finally:
            await conn.close()
    finally:
        server.stop()


def test_a_server_that_cannot_start_is_reported_with_its_log(revos_home: Path) -> None:
    server = EmbeddedPostgres(revos_home, free_port())
    server.start()
    server.stop()
    with open(server.data_dir / "postgresql.conf", "a") as conf:
        conf.write("shared_buffers = 'plenty'\n")
    with pytest.raises(StartupError) as caught:
        server.start()
    message = str(caught.value)
    assert f"port {server.port} exited while starting" in message
    assert 'invalid value for parameter "shared_buffers"' in message
    assert "database system is shut down" not in message  # only this run's lines
    assert not server.is_running()


async def test_postgres_left_by_a_dead_launcher_is_stopped_on_next_start(revos_home: Path) -> None:
    home, port = revos_home, free_port()
    # A launcher that died without stopping its PostgreSQL: detached, so no death signal reached it.
    script = (
        "import sys, pathlib; from infra.postgres import EmbeddedPostgres as P; "
        "P(pathlib.Path(sys.argv[1]), int(sys.argv[2])).start(detached=True)"
    )
    dead = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(home), str(port), cwd=ROOT)
    assert await asyncio.wait_for(dead.wait(), 60) == 0
    stale = int((home / "postgres" / "postmaster.pid").read_text().split()[0])
    assert _alive(stale)

    server = EmbeddedPostgres(home, port)
    server.start()
    try:
        assert not _alive(stale)
        assert server.pid not in (None, stale)
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    finally:
        server.stop()


def test_a_second_lock_on_the_same_home_fails_at_once(tmp_path: Path) -> None:
    with HomeLock(tmp_path):
        with pytest.raises(HomeLockedError) as caught:
            HomeLock(tmp_path).acquire()
        assert f"already running on REVOS_HOME={tmp_path} (pid {os.getpid()})" in str(caught.value)
        assert "set REVOS_HOME" in str(caught.value)
    with HomeLock(tmp_path) as again:  # released on exit
        assert again.held


def test_a_taken_port_names_the_setting_to_change(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} .*REVOS_BROKER_PORT"):
            EmbeddedBroker(tmp_path, port).start()
        with pytest.raises(PortInUseError, match=rf"port {port} .*REVOS_POSTGRES_PORT"):
            EmbeddedPostgres(tmp_path, port).start()


def test_launcher_stops_everything_on_sigterm(launcher: _Launcher) -> None:
    started = launcher.wait_running()
    names = {proc.name() for proc in started}
    assert {"sleep", "postgres"} <= names
    assert any(name.startswith("tansu") for name in names)

    second = subprocess.run(_cli_argv("run"), env=launcher.env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert f"already running on REVOS_HOME={launcher.home} (pid {launcher.process.pid})" in second.stderr

    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(30) == 0
    # A clean stop waits for each part, so nothing is left even for a moment.
    assert [proc.pid for proc in started if _alive(proc.pid)] == []


def test_nothing_outlives_a_killed_launcher(launcher: _Launcher) -> None:
    started = launcher.wait_running()
    if os.geteuid() == 0:  # the death signal must survive the switch to PostgreSQL's own user
        assert any(proc.username() == "embedded_postgres" for proc in started)

    launcher.process.kill()
    launcher.process.wait()
    _wait_for(lambda: not any(_alive(proc.pid) for proc in started), 30, "the launcher's children to exit")


def test_launcher_stops_the_stack_when_a_child_dies(revos_home: Path, tmp_path: Path) -> None:
    # The sleeper outlives the launcher only if the launcher fails to stop it.
    failing = _Launcher(
        revos_home, tmp_path, {"sleeper": ["sleep", "300"], "doomed": ["sh", "-c", "echo boom; exit 3"]}
    )
    try:
        assert failing.process.wait(60) == 1
        output = failing.output.read_text()
        assert "doomed exited unexpectedly (exit code 3)" in output
        assert "boom" in output  # the tail of its log
        sleeper = re.search(r"started sleeper \(pid (\d+)\)", output)
        assert sleeper is not None, output
        assert not _alive(int(sleeper.group(1)))
    finally:
        failing.close()


async def test_infra_up_status_down(revos_home: Path) -> None:
    env = _env(revos_home, broker_port=free_port(), postgres_port=free_port())
    code, _, err = await _cli(env, "infra", "up")
    assert code == 0, err
    try:
        status = json.loads((await _cli(env, "infra", "status"))[1])
        assert status["detached"] is True
        assert status["launcher"]["running"] is False
        assert status["broker"]["running"] is True
        assert status["postgres"]["running"] is True
        pids = [status["broker"]["pid"], status["postgres"]["pid"]]
        assert ":***@" in status["postgres"]["dsn"]  # the password stays in REVOS_HOME/postgres.password
        conn = await asyncpg.connect(Settings.from_env(env).dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
        host, port = status["broker"]["address"].split(":")
        _, writer = await asyncio.open_connection(host, int(port))
        writer.close()
        await writer.wait_closed()

        code, _, err = await _cli(env, "run")
        assert code == 1
        assert "revos infra down" in err
    finally:
        code, _, err = await _cli(env, "infra", "down")
    assert code == 0, err
    assert not any(_alive(pid) for pid in pids)
    status = json.loads((await _cli(env, "infra", "status"))[1])
    assert status["detached"] is False
    assert (status["broker"]["running"], status["postgres"]["running"]) == (False, False)
    assert (await _cli(env, "infra", "down"))[0] == 0  # idempotent


async def _refused_without_password(server: EmbeddedPostgres) -> None:
    with pytest.raises(asyncpg.exceptions.InvalidAuthorizationSpecificationError):
        conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user="postgres", database="postgres")
        await conn.close()


async def test_postgres_wants_its_password_kept_private_in_the_home(revos_home: Path) -> None:
    server = EmbeddedPostgres(revos_home, free_port())
    server.start()
    try:
        password_file = revos_home / "postgres.password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        assert password_file.read_text().strip() in server.dsn
        await _refused_without_password(server)
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
        hba = (server.data_dir / "pg_hba.conf").read_text()
        assert not re.search(r"^\s*(local|host)\S*\s.*\btrust\b", hba, re.MULTILINE)
        listening = {
            c.laddr.ip
            for c in psutil.net_connections("inet")
            if c.status == "LISTEN" and c.laddr.port == server.port
        }
        assert listening == {"127.0.0.1"}
    finally:
        server.stop()


async def test_a_data_directory_made_with_trust_is_upgraded_on_start(revos_home: Path) -> None:
    server = EmbeddedPostgres(revos_home, free_port())
    server.start()
    server.stop()
    hba = server.data_dir / "pg_hba.conf"
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n")
    (revos_home / "postgres.password").unlink(missing_ok=True)  # as an earlier version left it
    server.start()
    try:
        await _refused_without_password(server)
        conn = await asyncpg.connect(server.dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    finally:
        server.stop()


def test_the_broker_listens_on_loopback_only(broker: _Broker) -> None:
    port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
    listening = {
        c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.laddr.port == port
    }
    assert listening == {"127.0.0.1"}
