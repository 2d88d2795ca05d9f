"""The distributed half's plumbing: a scratch PostgreSQL database, this run's Redis keys, and the livevault
processes of the Celery mode (`livevault serve` as the API, `livevault worker` processes), sampled from /proc.

Nothing here touches anything the run did not create: the database is CREATEd with a unique name and only it
is DROPped; every Redis key the processes write carries the run's unique prefix (queues, kombu bindings,
results, the rate-limit/cache namespace), and only keys with that prefix are deleted. Redis is never flushed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import redis
from _livevault import free_port, wait_healthz
from _procfs import CLK_TCK, Sampler, die_with_parent, hwm_bytes, read_stat, rollup, rss_bytes, tree_cpu
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
LIVEVAULT = Path(sys.executable).with_name("livevault")
RECEIVED = re.compile(r"livevault\.record\[([^\]]+)\] received")
_PG_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


# --- PostgreSQL -------------------------------------------------------------------------------------------


def postgres_server_url() -> URL:
    """DATABASE_URL when it names PostgreSQL, else postgres@127.0.0.1:5432 (psycopg 3 driver)."""
    raw = os.environ.get("DATABASE_URL", "")
    url = make_url(raw if raw.startswith(("postgres://", "postgresql")) else DEFAULT_POSTGRES)
    if url.drivername in _PG_SCHEMES:
        url = url.set(drivername=_PG_SCHEMES[url.drivername])
    return url


def _admin(server: URL) -> Engine:
    return create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                         connect_args={"connect_timeout": 5})


def check_postgres(server: URL) -> str | None:
    """None when the server answers, else why not (one line)."""
    engine = _admin(server)
    try:
        with engine.connect():
            return None
    except SQLAlchemyError as exc:
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_database(server: URL, prefix: str = "livevault_bench") -> Iterator[tuple[str, str]]:
    """CREATE a uniquely named database; yield (its name, its URL); DROP it, and only it, afterwards."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _admin(server)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield name, server.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as connection:
        try:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except SQLAlchemyError:  # PostgreSQL < 13: end the sessions on this database first
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(name)s "
                "AND pid <> pg_backend_pid()", {"name": name})
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')


class RecordingWatch:
    """Status, lease owner and job id of every recording, read straight from the shared database (one
    read-only query on an open connection: it costs the measured workers nothing)."""

    QUERY = "SELECT id, status, lease_owner, job_id FROM recordings"

    def __init__(self, database_url: str) -> None:
        self._engine = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._conn: Connection | None = None

    def rows(self) -> list[tuple[str, str, str | None, str | None]]:
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            return [(r[0], r[1], r[2], r[3]) for r in self._conn.exec_driver_sql(self.QUERY).all()]
        except SQLAlchemyError:
            self.close()  # reconnect on the next call
            return []

    def backend_pids(self) -> list[int]:
        """Server processes of every connection to this database (the livevault processes' and this one)."""
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            return [int(r[0]) for r in self._conn.exec_driver_sql(query).all()]
        except SQLAlchemyError:
            self.close()
            return []

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None

    def dispose(self) -> None:
        self.close()
        self._engine.dispose()


def owner_pid(owner: str | None) -> int | None:
    """The pid in a lease owner id (`host:pid:random`, see livevault.services.recording.lease.new_owner_id)."""
    if not owner:
        return None
    parts = owner.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


# --- Redis ------------------------------------------------------------------------------------------------


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS


def check_redis(url: str) -> str | None:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def delete_prefixed(url: str, prefix: str) -> int:
    """Delete this run's keys (every one starts with its unique prefix) and nothing else."""
    if len(prefix) < 8:
        raise ValueError("refusing to delete Redis keys by a short prefix")
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()


# --- livevault processes ----------------------------------------------------------------------------------


def distributed_env(*, data_dir: Path, database_url: str, broker: str, prefix: str, api_key: str,
                    max_recordings: int, log_level: str, **extra: str) -> dict[str, str]:
    """The environment every process of the distributed deployment shares (same database, files, broker)."""
    drop = {"DATABASE_URL", "RECORDINGS_DIR", "API_KEYS", "REDIS_URL", "RATE_LIMIT_PER_MIN", "LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEVAULT_", "CELERY_")) and k not in drop}
    env.update(
        LIVEVAULT_DATA_DIR=str(data_dir),
        DATABASE_URL=database_url,
        LIVEVAULT_RUNNER="celery",
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        LIVEVAULT_CELERY_QUEUE_PREFIX=prefix,
        REDIS_URL=broker,
        LIVEVAULT_REDIS_NAMESPACE=f"{prefix}shared",  # rate-limit and cache keys carry the prefix too
        LIVEVAULT_SCHEDULER_ENABLED="false",
        LIVEVAULT_ALLOW_PRIVATE_SOURCES="true",
        LIVEVAULT_MAX_CONCURRENT_RECORDINGS=str(max(500, max_recordings)),
        LIVEVAULT_LOG_JSON="false",
        API_KEYS=api_key,
        RATE_LIMIT_PER_MIN="0",
        LOG_LEVEL=log_level,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class ProcessExited(RuntimeError):
    """A livevault process exited while the benchmark waited for it."""


class LivevaultProcess:
    """One `livevault <args>` process (its own session, SIGKILLed if the benchmark dies), output to a log file,
    CPU and memory sampled from /proc every ``interval`` seconds once the sampler is started."""

    def __init__(self, label: str, args: list[str], env: dict[str, str], log_path: Path, *,
                 stop_signal: signal.Signals = signal.SIGTERM, interval: float = 0.5) -> None:
        self.label = label
        self.args = args
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.command = [str(LIVEVAULT), *args]
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=log_path.parent,
            start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops this process itself
            preexec_fn=die_with_parent,  # a SIGKILLed benchmark leaves no orphan
        )
        self.pid = self.proc.pid
        self.sampler = Sampler(self._probe, interval=interval)
        self._probes = 0

    def _probe(self) -> dict[str, float]:
        own = read_stat(self.pid)
        row = {
            "cpu": tree_cpu(self.pid),
            "user": own.utime + own.cutime if own else 0.0,
            "rss": float(rss_bytes(self.pid)),
        }
        if self._probes % 4 == 0:
            row["pss"] = float(rollup(self.pid).get("Pss", 0))
        self._probes += 1
        return row

    def cpu(self) -> float:
        """user + system CPU seconds of the process (threads included) and of its reaped children."""
        return tree_cpu(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def hwm(self) -> int:
        return hwm_bytes(self.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 15) -> list[str]:
        return [line for line in self.log().splitlines() if line.strip()][-lines:]

    def wait_for_log(self, text: str, timeout: float = 90.0) -> float:
        started = time.monotonic()
        while text not in self.log():
            if self.proc.poll() is not None:
                raise ProcessExited(f"{self.label} exited with {self.proc.returncode}: "
                                    + " | ".join(self.tail(5)))
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{self.label}: {text!r} not in its log after {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.1)
        return time.monotonic() - started

    def stop(self, grace: float = 30.0) -> int | None:
        """The process's graceful stop signal, SIGKILL after ``grace`` seconds."""
        self.sampler.stop()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


class ApiProcess(LivevaultProcess):
    """`livevault serve` with the celery runner: the REST API only; jobs go to the workers."""

    def __init__(self, env: dict[str, str], log_path: Path, api_key: str) -> None:
        self.port = free_port()
        self.key = api_key
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**env, "LIVEVAULT_HOST": "127.0.0.1", "LIVEVAULT_PORT": str(self.port)}
        super().__init__("livevault serve (API)", ["serve"], env, log_path, stop_signal=signal.SIGINT)

    def wait_healthy(self, timeout: float = 90.0) -> float:
        return wait_healthz(self.base_url, self.proc, self.log_path, lambda: ProcessExited(
            f"livevault serve exited with {self.proc.returncode}: " + " | ".join(self.tail(5))), timeout)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": self.key}, timeout=timeout)


class BackendCpu:
    """CPU of the PostgreSQL server processes serving one database, from /proc (the server is local).

    Backends present at ``start`` count from their CPU then; later ones from 0 (they began afterwards). A
    backend that ends between two ``sample`` calls loses its last moments, so this is a lower bound.
    """

    def __init__(self) -> None:
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _read(self, pids: list[int]) -> dict[int, float]:
        out = {}
        for pid in pids:
            stat = read_stat(pid)
            if stat is not None:
                out[pid] = stat.own
        return out

    def start(self, pids: list[int]) -> None:
        self._base = self._read(pids)
        self._last = dict(self._base)

    def sample(self, pids: list[int]) -> None:
        self._last.update(self._read(pids))

    def total(self) -> float:
        return sum(cpu - self._base.get(pid, 0.0) for pid, cpu in self._last.items())


def machine_busy_cpu() -> float:
    """CPU seconds all cores of the machine have been busy since boot (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def received_task_ids(log_text: str) -> list[str]:
    """Task ids of the `livevault.record[<id>] received` lines of a worker log (Celery, INFO level)."""
    return RECEIVED.findall(log_text)

