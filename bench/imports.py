"""The lead CSV import under a large file: the service's memory and how well it keeps answering
`/health` while it takes a 60 MB Salesforce-style export.

    python -m bench.imports                      # 60 MB file, PostgreSQL
    python -m bench.imports --quick              # 6 MB file
    python -m bench.imports --database sqlite    # the embedded default
    python -m bench.imports --source /tmp/prm-41793d4   # the service from another checkout

One fresh database (created, migrated with `prm db upgrade`, dropped after) with one vendor
admin; the CSV is written to a temporary file first (Salesforce's headers, BOM, CRLF, every cell
quoted, a newline inside each description, Norwegian, Icelandic and Cyrillic names, ISO country
codes so that older versions accept every row too). Then `prm serve` on a free port:

- idle: /health polled back to back for --idle-seconds: the floor;
- import: the file POSTed to /api/v1/distribution/imports (all-or-nothing), streamed from disk,
  while /health is polled back to back and the resident memory of the service's process tree is
  sampled every 20 ms. Figures: rss.before, rss.peak, rss.growth, import seconds and rows,
  health.p50/p99/max (ms) and health.requests during the import, next to the idle floor.

`--source DIR` runs the service (and its migrations) from DIR, e.g. an export of an older commit
(`git archive 41793d4 | tar -x -C DIR`), with PYTHONPATH=DIR and the same virtualenv.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import sys
import time
from pathlib import Path

import httpx

from bench._harness import (
    LOOPBACK,
    PROJECT_ROOT,
    Report,
    Seeder,
    fresh_database,
    migrate,
    process_tree,
    python_speed_ms,
    running_service,
    service_env,
    token_for,
    workdir,
)
from prm.core.auth import Role

ADMIN = "bench.admin@vendor.example"
HEADER = [
    "First Name",
    "Last Name",
    "Title",
    "Company",
    "Email",
    "Phone",
    "Lead Source",
    "Street",
    "City",
    "State/Province",
    "Country",
    "No. of Employees",
    "Annual Revenue",
    "Description",
]
PEOPLE = [
    ("Øyvind", "Åsheim", "Oslo", "NO"),
    ("Þórunn", "Guðmundsdóttir", "Reykjavík", "IS"),
    ("Дмитрий", "Иванов", "Москва", "RU"),
    ("Jürgen", "Müller", "München", "DE"),
    ("Ada", "Lovelace", "London", "GB"),
]
SAMPLE_SECONDS = 0.02


def write_export(path: Path, megabytes: float, seed: int = 7) -> int:
    """A Salesforce-style lead export of about `megabytes` MB; returns its row count."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(HEADER)
        while handle.tell() < target:
            first, last, city, country = PEOPLE[rows % len(PEOPLE)]
            words = " ".join(rng.choice(("firewall", "SD-WAN", "rollout", "sites,", "budget", "Q3")) for _ in range(30))
            writer.writerow(
                [
                    first,
                    last,
                    "Head of IT",
                    f"{last} Holding {rows}",
                    f"lead{rows}@company{rows}.example",
                    f"+47 22 {rows % 100:02d} {rows % 1000:03d}",
                    "Web",
                    f"Street {rows}\nBuilding B",
                    city,
                    city,
                    country,
                    str(rng.randint(1, 5000)),
                    str(rng.randint(10_000, 10_000_000)),
                    f"{words}\nCall after 10:00.",
                ]
            )
            rows += 1
    return rows


def rss_bytes(pid: int) -> int:
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def poll_health(client: httpx.AsyncClient, until: asyncio.Event, latencies: list[float]) -> None:
    while not until.is_set():
        started = time.perf_counter()
        reply = await client.get("/health", timeout=60.0)
        reply.raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000.0)


async def sample_rss(pid: int, until: asyncio.Event, peak: list[int]) -> None:
    while not until.is_set():
        peak[0] = max(peak[0], rss_bytes(pid))
        await asyncio.sleep(SAMPLE_SECONDS)


async def idle_floor(base_url: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base_url) as client:
        poller = asyncio.create_task(poll_health(client, stop, latencies))
        await asyncio.sleep(seconds)
        stop.set()
        await poller
    return latencies


async def upload(base_url: str, token: str, path: Path) -> tuple[httpx.Response, float]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=1800.0) as client:
        started = time.perf_counter()
        with path.open("rb") as handle:
            files = {"file": ("salesforce-leads.csv", handle, "text/csv")}
            reply = await client.post("/api/v1/distribution/imports/", files=files)
        return reply, time.perf_counter() - started


async def during_import(base_url: str, pid: int, token: str, path: Path) -> dict[str, object]:
    stop = asyncio.Event()
    latencies: list[float] = []
    peak = [rss_bytes(pid)]
    async with httpx.AsyncClient(base_url=base_url) as health_client:
        tasks = [
            asyncio.create_task(poll_health(health_client, stop, latencies)),
            asyncio.create_task(sample_rss(pid, stop, peak)),
        ]
        try:
            reply, seconds = await upload(base_url, token, path)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
    return {"reply": reply, "seconds": seconds, "latencies": latencies, "peak": peak[0]}


async def run(args: argparse.Namespace, report: Report, database_url: str, folder: Path, source: Path) -> None:
    csv_path = folder / "salesforce-leads.csv"
    rows = write_export(csv_path, args.megabytes)
    report.figure("file.bytes", csv_path.stat().st_size, "bytes")
    report.figure("file.rows", rows, "rows")
    env = service_env(database_url, folder, PRM_RUN_SCHEDULER="false", PRM_MAX_IMPORT_BYTES=str(256 * 1024 * 1024))
    if source != PROJECT_ROOT:
        env["PYTHONPATH"] = str(source)
    migrate(env, cwd=source)
    seeder = Seeder(database_url)
    try:
        await seeder.user(ADMIN, Role.VENDOR_ADMIN)
    finally:
        await seeder.close()
    with running_service(env, folder, cwd=source) as service:
        base_url = service.base_url
        assert httpx.URL(base_url).host == LOOPBACK
        token = await token_for(base_url, ADMIN)
        idle = await idle_floor(base_url, args.idle_seconds)
        report.figure("idle.health.p50", percentile(idle, 0.50), "ms")
        report.figure("idle.health.p99", percentile(idle, 0.99), "ms")
        report.figure("idle.health.max", max(idle), "ms")
        before = rss_bytes(service.pid)
        report.figure("rss.before", before / 2**20, "MiB")
        seen = await during_import(base_url, service.pid, token, csv_path)
        reply: httpx.Response = seen["reply"]  # type: ignore[assignment]
        if reply.status_code != 201:
            print(f"# import answered {reply.status_code}: {reply.text[:500]}", file=sys.stderr)
        created = reply.json().get("created", 0) if reply.status_code == 201 else 0
        latencies: list[float] = seen["latencies"]  # type: ignore[assignment]
        report.figure("import.status", reply.status_code)
        report.figure("import.created", created, "rows")
        report.figure("import.seconds", float(seen["seconds"]), "s")  # type: ignore[arg-type]
        report.figure("rss.peak", int(seen["peak"]) / 2**20, "MiB")  # type: ignore[call-overload]
        report.figure("rss.growth", (int(seen["peak"]) - before) / 2**20, "MiB")  # type: ignore[call-overload]
        report.figure("health.requests", len(latencies), "requests")
        report.figure("health.p50", percentile(latencies, 0.50), "ms")
        report.figure("health.p99", percentile(latencies, 0.99), "ms")
        report.figure("health.max", max(latencies, default=float("nan")), "ms")
        report.figure("host.load_average", os.getloadavg()[0], "runnable")  # 2 cores shared with others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 6 MB file")
    parser.add_argument("--megabytes", type=float, default=60.0)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--source", type=Path, default=PROJECT_ROOT, help="run the service from this checkout")
    args = parser.parse_args()
    if args.quick:
        args.megabytes = 6.0
    source = args.source.resolve()
    settings = {"megabytes": args.megabytes, "database": args.database, "source": str(source), "cpus": os.cpu_count()}
    report = Report(bench="imports", settings=settings)
    report.figure("host.python_speed", python_speed_ms(), "ms")
    with workdir() as folder, fresh_database(args.database, folder) as database_url:
        asyncio.run(run(args, report, database_url, folder, source))
    report.figure("host.python_speed_end", python_speed_ms(), "ms")
    report.finish()


if __name__ == "__main__":
    main()
