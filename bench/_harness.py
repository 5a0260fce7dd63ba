"""Reusable benchmark pieces: a throw-away database, the service in a subprocess, seeding
helpers, concurrent load with latency percentiles, CPU accounting, and the figure report.

Everything runs on loopback. The service runs in its own process (uvicorn via `prm serve`);
the load generator runs in the bench process, so the two never share an interpreter, and the
CPU each used is reported next to the figures (the machine may only have a couple of cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import Table, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from prm.core.auth import Role
from prm.core.db import new_id
from prm.core.passwords import hash_password
from prm.core.tokens import generate_private_key_pem
from prm.crm.models import Partner, PartnerTier, User

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
POSTGRES_ADMIN_URL = os.environ.get("PRM_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench-password-1234"  # noqa: S105 - the seeded bench users sign in with it
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- where the data lives -------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_ADMIN_URL))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """A database URL that exists only for this run: a temp SQLite file, or a new PostgreSQL DB."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}")
    name = f"prm_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A folder for the run's keys, logs and configs; BENCH_KEEP=1 keeps it (the services' logs)."""
    path = Path(tempfile.mkdtemp(prefix="prm-bench-"))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            print(f"# kept: {path}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def service_env(database_url: str, folder: Path, **extra: str) -> dict[str, str]:
    """PRM_* settings for a service started for the bench (with the floor endpoint on)."""
    key_file = folder / "jwt-es256.pem"
    if not key_file.exists():
        key_file.write_text(generate_private_key_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
    env.update(
        PRM_DATABASE_URL=database_url,
        PRM_JWT_PRIVATE_KEY_FILE=str(key_file),
        PRM_SECRET_KEY=secrets.token_urlsafe(48),
        PRM_BENCH_ENDPOINTS="true",
        PRM_JWT_TTL_SECONDS="86400",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str], *, cwd: Path = PROJECT_ROOT) -> None:
    subprocess.run([sys.executable, "-m", "prm.cli", "db", "upgrade"], env=env, cwd=cwd, check=True)


# --- the service ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    base_url: str
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def running_service(
    env: dict[str, str], folder: Path, *, workers: int = 1, cwd: Path = PROJECT_ROOT, start_timeout: float = 60.0
) -> Iterator[Service]:
    """`prm serve` on a free loopback port (run from `cwd`: another checkout compares versions);
    stopped (and only it) when the block ends."""
    port = free_port()
    log_file = folder / f"service-{port}.log"
    command = [sys.executable, "-m", "prm.cli", "serve", "--host", LOOPBACK, "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    service = Service(process=process, base_url=f"http://{LOOPBACK}:{port}", log_file=log_file)
    try:
        _wait_until_healthy(service, start_timeout)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(service: Service, timeout: float = 180.0) -> None:  # start-up took > 60 s at load 20
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"the service exited with {service.process.returncode}:\n{service.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.base_url}/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the service did not answer /health within {timeout:.0f}s:\n{service.log_tail()}")


# --- seeding ----------------------------------------------------------------------------------


class Seeder:
    """Bulk inserts straight into the tables (Core executemany; ORM column types still apply)."""

    def __init__(self, database_url: str) -> None:
        self.engine: AsyncEngine = create_async_engine(database_url)
        self.now = datetime.now(UTC)
        self._password_hash = hash_password(PASSWORD)  # argon2 is slow by design: hash once

    async def insert(self, table: Table | Any, rows: list[dict[str, Any]], batch: int = 5000) -> None:
        target: Table = table if isinstance(table, Table) else table.__table__
        async with self.engine.begin() as connection:
            for start in range(0, len(rows), batch):
                await connection.execute(insert(target), rows[start : start + batch])

    def stamps(self, age: timedelta = timedelta(days=30)) -> dict[str, Any]:
        at = self.now - age
        return {"id": new_id(), "created_at": at, "updated_at": at, "version": 1}

    async def partner(self, name: str) -> uuid.UUID:
        row = {**self.stamps(), "name": name, "tier": PartnerTier.GOLD, "country": "DE", "active": True}
        await self.insert(Partner, [row])
        return uuid.UUID(str(row["id"]))

    async def user(self, email: str, role: Role, partner_id: uuid.UUID | None = None) -> str:
        row = {
            **self.stamps(),
            "email": email,
            "name": email.partition("@")[0],
            "role": role,
            "partner_id": partner_id,
            "password_hash": self._password_hash,
            "active": True,
        }
        await self.insert(User, [row])
        return email

    async def analyze(self) -> None:
        """Fresh planner statistics, as a database in steady state would have."""
        async with self.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")

    async def close(self) -> None:
        await self.engine.dispose()


async def token_for(base_url: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as client:
        reply = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
        reply.raise_for_status()
        token: str = reply.json()["access_token"]
        return token


@contextlib.asynccontextmanager
async def api_client(base_url: str, token: str, connections: int) -> AsyncIterator[httpx.AsyncClient]:
    if httpx.URL(base_url).host != LOOPBACK:
        raise ValueError("the bench only drives services on loopback")
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30.0) as client:
        yield client


# --- load -------------------------------------------------------------------------------------

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
WorkerFactory = Callable[[int], Request]


@dataclass
class Load:
    concurrency: int
    seconds: float
    warmup_seconds: float
    max_requests: int


@dataclass
class Stats:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    cpu: CpuUse
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = min(max(math.ceil(fraction * len(ordered)), 1), len(ordered))
        return ordered[rank - 1]

    @classmethod
    def merged(cls, name: str, parts: list[Stats]) -> Stats:
        """Several measuring rounds of one scenario as one (CPU averaged over their time)."""
        seconds = sum(p.seconds for p in parts) or 1e-9

        def mean(attr: str) -> float:
            return float(sum(getattr(p.cpu, attr) * p.seconds for p in parts)) / seconds

        return cls(
            name=name,
            requests=sum(p.requests for p in parts),
            errors=sum(p.errors for p in parts),
            seconds=seconds,
            latencies_ms=[ms for p in parts for ms in p.latencies_ms],
            cpu=CpuUse(
                client=mean("client"), server=mean("server"), database=mean("database"), machine=mean("machine")
            ),
            first_error=next((p.first_error for p in parts if p.first_error), ""),
        )


@dataclass(frozen=True)
class CpuSample:
    wall: float
    client: float
    server: float
    database: float
    machine_busy: float
    machine_total: float


@dataclass(frozen=True)
class CpuUse:
    """Cores used on average: by the load generator, the service, the database server's
    backends for our database (PostgreSQL), everything on the machine, and the rest (others)."""

    client: float
    server: float
    database: float
    machine: float

    @property
    def other(self) -> float:
        return max(self.machine - self.client - self.server - self.database, 0.0)


class CpuMeter:
    def __init__(self, service_pid: int, database_name: str | None = None) -> None:
        self._pid = service_pid
        self._database_name = database_name

    def sample(self) -> CpuSample:
        busy, total = _machine_ticks()
        database = sum(_process_seconds(pid) for pid in self._database_backends())
        service = sum(_process_seconds(pid) for pid in process_tree(self._pid))
        return CpuSample(time.monotonic(), time.process_time(), service, database, busy, total)

    def _database_backends(self) -> list[int]:
        """PostgreSQL backends serving our database (their titles name it)."""
        if not self._database_name:
            return []
        needle = f" {self._database_name} ".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if needle in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                        found.append(int(entry.name))
        return found

    @staticmethod
    def between(start: CpuSample, end: CpuSample) -> CpuUse:
        wall = max(end.wall - start.wall, 1e-9)
        total = max(end.machine_total - start.machine_total, 1e-9)
        return CpuUse(
            client=(end.client - start.client) / wall,
            server=(end.server - start.server) / wall,
            database=max(end.database - start.database, 0.0) / wall,
            machine=(os.cpu_count() or 1) * (end.machine_busy - start.machine_busy) / total,
        )


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (uvicorn's worker processes, with --workers > 1)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending.extend(int(child) for child in children.read_text().split())
    return found


def _process_seconds(pid: int) -> float:
    """user+system CPU seconds of a process (from /proc; 0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" the fields start at #3 (state): utime is #14, stime #15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_ticks() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


async def _run_workers(
    client: httpx.AsyncClient, factory: WorkerFactory, load: Load, seconds: float, max_requests: int
) -> tuple[list[float], int, str, float]:
    latencies: list[float] = []
    errors = 0
    first_error = ""
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal errors, first_error, issued
        request = factory(index)
        while time.perf_counter() < deadline and issued < max_requests:
            issued += 1
            started = time.perf_counter()
            reply = await request(client)
            elapsed = (time.perf_counter() - started) * 1000.0
            if reply.is_success:
                latencies.append(elapsed)
            else:
                errors += 1
                first_error = first_error or f"{reply.status_code} {reply.text[:300]}"

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(load.concurrency)))
    return latencies, errors, first_error, time.perf_counter() - started


async def measure(name: str, client: httpx.AsyncClient, factory: WorkerFactory, load: Load, meter: CpuMeter) -> Stats:
    """Warm up (discarded), then run `concurrency` workers until the time or request budget ends."""
    if load.warmup_seconds > 0:
        await _run_workers(client, factory, load, load.warmup_seconds, load.max_requests)
    return await _measure_once(name, client, factory, load, meter)


async def measure_interleaved(
    scenarios: list[tuple[str, httpx.AsyncClient, WorkerFactory]], load: Load, meter: CpuMeter, rounds: int
) -> dict[str, Stats]:
    """Scenarios measured in turns (A B A B ...), so a change in what else runs on the machine
    weighs on each alike: what their ratio needs. Each gets `load.seconds` in all."""
    rounds = max(rounds, 1)
    for _, client, factory in scenarios:
        await _run_workers(client, factory, load, load.warmup_seconds, load.max_requests)
    share = Load(load.concurrency, load.seconds / rounds, 0.0, max(load.max_requests // rounds, 1))
    parts: dict[str, list[Stats]] = {name: [] for name, _, _ in scenarios}
    for _ in range(rounds):
        for name, client, factory in scenarios:
            parts[name].append(await _measure_once(name, client, factory, share, meter))
    return {name: Stats.merged(name, runs) for name, runs in parts.items()}


async def _measure_once(
    name: str, client: httpx.AsyncClient, factory: WorkerFactory, load: Load, meter: CpuMeter
) -> Stats:
    before = meter.sample()
    latencies, errors, first_error, seconds = await _run_workers(client, factory, load, load.seconds, load.max_requests)
    return Stats(
        name=name,
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        latencies_ms=latencies,
        cpu=CpuMeter.between(before, meter.sample()),
        first_error=first_error,
    )


# --- the report -------------------------------------------------------------------------------


def python_speed_ms(rounds: int = 5) -> float:
    """The best of a few runs of a fixed pure-Python workload: this VM's speed varies by
    1.5-2x from hour to hour, so runs are compared with this figure beside them."""

    def work() -> int:
        total = 0
        for i in range(300_000):
            total += len(str(i)) * (i % 7)
        return total

    best = math.inf
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, (time.process_time() - started) * 1000.0)
    return best


@dataclass
class Report:
    """Prints `name: value unit` as figures arrive; `finish()` prints them all as one JSON object."""

    bench: str
    settings: dict[str, Any]
    figures: dict[str, float | int | str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)

    def figure(self, name: str, value: float | int | str, unit: str = "") -> None:
        if isinstance(value, float):
            value = round(value, 3)
        self.figures[name] = value
        self.units[name] = unit
        print(f"{name}: {value} {unit}".rstrip(), flush=True)

    def stats(self, prefix: str, stats: Stats) -> None:
        self.figure(f"{prefix}.requests_per_s", stats.rps, "req/s")
        self.figure(f"{prefix}.p50", stats.percentile(0.50), "ms")
        self.figure(f"{prefix}.p99", stats.percentile(0.99), "ms")
        self.figure(f"{prefix}.requests", stats.requests, "requests")
        self.figure(f"{prefix}.errors", stats.errors, "requests")
        self.figure(f"{prefix}.cpu.client", stats.cpu.client, "cores")
        self.figure(f"{prefix}.cpu.service", stats.cpu.server, "cores")
        if stats.cpu.database:
            self.figure(f"{prefix}.cpu.database", stats.cpu.database, "cores")
        self.figure(f"{prefix}.cpu.other", stats.cpu.other, "cores")
        # CPU per request moves far less than requests/s when other work shares the machine.
        if stats.requests:
            self.figure(f"{prefix}.cpu.service_per_request", 1000 * stats.cpu.server / stats.rps, "ms")
        if stats.first_error:
            print(f"# {prefix}: first error: {stats.first_error}", file=sys.stderr, flush=True)

    def finish(self) -> None:
        print(json.dumps({"bench": self.bench, "settings": self.settings, "figures": self.figures}), flush=True)
