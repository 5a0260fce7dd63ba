"""Connect: two prm instances on PostgreSQL, records shared A -> B and updates followed.

    python -m bench.connect            # 10k records, 200 timed updates, 500 updates across a restart
    python -m bench.connect --quick    # 1k records, 50 timed updates, 100 across a restart
    python -m bench.connect --records 200 --timed 5 --restart 5   # a smoke run: any of the three

Starts two `prm serve` processes (tests/connect/harness.py: each its own fresh PostgreSQL
database, migrated with `prm db upgrade`, its own key and secret), links them through the API
(invite, accept, A publishes accounts' names, B subscribes with auto-accept), seeds the
accounts on A with one INSERT, and measures:

- share.records_per_s: the accounts forwarded in requests of 200 (POST /api/v1/connect/shares),
  from the first request until B holds every one as an accepted local account;
- update.p50/p99_ms: from a PATCH committed on A (its reply) to the new name readable in B's
  database, one update at a time;
- restart.converge_s: B is SIGKILLed, A makes its updates, B restarts; from B serving again
  until every update is visible on B (a restarted instance says hello to its peers, which send
  what waits for it at once instead of after their retry backoff).

Load average (1 min) is printed before and after: the figures mean little on a busy machine.

PRM_TEST_DATABASE_URL names the PostgreSQL server (default postgresql+asyncpg://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PRM_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")

import asyncpg

from tests.conftest import _asyncpg_dsn
from tests.connect.harness import Instance, eventually

CONNECTIONS = "/api/v1/connect/connections"
BATCH = 200


def link(a: Instance, b: Instance) -> None:
    a.call("POST", CONNECTIONS, {"peer_url": b.url, "contact_email": "owner@b.example"}, expect=201)
    b_connection = eventually(lambda: b.get(CONNECTIONS)["items"], what="invitation")[0]["id"]
    b.call("POST", f"{CONNECTIONS}/{b_connection}/accept", {})
    a_connection = a.get(CONNECTIONS)["items"][0]["id"]
    eventually(lambda: a.get(f"{CONNECTIONS}/{a_connection}")["status"] == "accepted", what="accepted")
    a.call("PUT", f"{CONNECTIONS}/{a_connection}/publications", {"object": "account"})
    eventually(lambda: b.get(f"{CONNECTIONS}/{b_connection}/subscriptions"), what="publication")
    b.call("PUT", f"{CONNECTIONS}/{b_connection}/subscriptions/account", {"auto_accept": True})
    eventually(lambda: a.get(f"{CONNECTIONS}/{a_connection}/publications")[0]["peer_subscribed"], what="subscribed")


# One loop and one open connection per database: reading B every 50 ms must not cost a new
# connection each time, or that cost would be counted as delivery time.
_LOOP = asyncio.new_event_loop()
_CONNECTIONS: dict[str, asyncpg.Connection] = {}


def fetch(instance: Instance, sql: str, *args: object) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        if instance.database_url not in _CONNECTIONS:
            _CONNECTIONS[instance.database_url] = await asyncpg.connect(_asyncpg_dsn(instance.database_url))
        return list(await _CONNECTIONS[instance.database_url].fetch(sql, *args))

    return _LOOP.run_until_complete(run())


def close_probes() -> None:
    for connection in _CONNECTIONS.values():
        _LOOP.run_until_complete(connection.close())
    _CONNECTIONS.clear()


def seed_accounts(a: Instance, count: int) -> list[str]:
    sql = """INSERT INTO accounts (id, name, normalized_name, kind, created_at, updated_at, version)
             SELECT gen_random_uuid(), 'Bench ' || n, 'bench ' || n, 'customer', now(), now(), 1
             FROM generate_series(1, $1) AS n RETURNING id"""
    return [str(row["id"]) for row in fetch(a, sql, count)]


def count_on_b(b: Instance) -> int:
    rows = fetch(b, "SELECT count(*) AS n FROM connect_shares WHERE status = 'active_received'")
    return int(rows[0]["n"])


def name_on_b(b: Instance, origin_id: str) -> str | None:
    sql = """SELECT a.name FROM connect_shares s JOIN accounts a ON a.id = s.local_id
             WHERE s.origin_id = $1::uuid"""
    rows = fetch(b, sql, origin_id)
    return str(rows[0]["name"]) if rows else None


def share_all(a: Instance, b: Instance, ids: list[str]) -> float:
    connection = a.get(CONNECTIONS)["items"][0]["id"]
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        records = [{"object": "account", "id": i} for i in ids[start : start + BATCH]]
        a.call("POST", "/api/v1/connect/shares", {"connection_ids": [connection], "records": records}, expect=201)
    eventually(lambda: count_on_b(b) >= len(ids), within=1800, what="every record on B")
    return len(ids) / (time.perf_counter() - started)


def rename(a: Instance, account_id: str, name: str) -> None:
    version = a.get(f"/api/v1/accounts/{account_id}")["version"]
    a.call("PATCH", f"/api/v1/accounts/{account_id}", {"expected_version": version, "name": name})


def update_latencies(a: Instance, b: Instance, ids: list[str]) -> tuple[list[float], list[float]]:
    """Per update: from A's reply (committed) to the name readable on B; and, the floor, the
    PATCH itself on A (what any write costs, synced or not)."""
    latencies, floors = [], []
    for n, account_id in enumerate(ids):
        name = f"Timed {n}"
        started = time.perf_counter()
        rename(a, account_id, name)
        committed = time.perf_counter()
        eventually(lambda: name_on_b(b, account_id) == name, within=60, what="update on B")  # noqa: B023
        latencies.append((time.perf_counter() - committed) * 1000)
        floors.append((committed - started) * 1000)
    return latencies, floors


def converge_after_restart(a: Instance, b: Instance, ids: list[str]) -> float:
    b.kill()
    for account_id in ids:
        rename(a, account_id, f"During restart {account_id[:8]}")
    b.start()
    back = time.perf_counter()
    for account_id in ids:
        eventually(lambda: name_on_b(b, account_id) == f"During restart {account_id[:8]}",  # noqa: B023
                   within=600, what="converged")  # fmt: skip
    return time.perf_counter() - back


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--records", type=int, help="records shared A to B (overrides the default)")
    parser.add_argument("--timed", type=int, help="updates timed one at a time (at least 2)")
    parser.add_argument("--restart", type=int, help="updates made while B is down")
    args = parser.parse_args()
    records, timed, restart = (1_000, 50, 100) if args.quick else (10_000, 200, 500)
    records, timed, restart = args.records or records, max(2, args.timed or timed), args.restart or restart
    if records < timed + restart:
        parser.error("--records must be at least --timed plus --restart")
    folder = Path(tempfile.mkdtemp(prefix="prm-bench-connect-"))
    for name in ("a", "b"):
        (folder / name).mkdir()
    a, b = Instance("a", folder / "a"), Instance("b", folder / "b")
    figures: dict[str, float] = {"load_avg_1m.before": os.getloadavg()[0]}
    try:
        for instance in (a, b):
            for test_only in ("PRM_OUTBOX_POLL_SECONDS", "PRM_PEER_RETRY_MAX_SECONDS", "PRM_PEER_MAX_ATTEMPTS"):
                instance.env.pop(test_only, None)  # the defaults a deployment runs with
            instance.set_up()
            instance.start()
        link(a, b)
        ids = seed_accounts(a, records)
        figures["share.records"] = records
        figures["share.records_per_s"] = round(share_all(a, b, ids), 1)
        latencies, floors = update_latencies(a, b, ids[:timed])
        figures["update.p50_ms"] = round(statistics.median(latencies), 1)
        figures["update.p99_ms"] = round(statistics.quantiles(latencies, n=100)[98], 1)
        figures["update.floor_patch_on_a.p50_ms"] = round(statistics.median(floors), 1)
        figures["restart.updates"] = restart
        figures["restart.converge_s"] = round(converge_after_restart(a, b, ids[timed : timed + restart]), 2)
        figures["load_avg_1m.after"] = os.getloadavg()[0]
    finally:
        close_probes()
        for instance in (a, b):
            instance.stop()
            instance.drop_database()
    for name, value in figures.items():
        unit = (
            "records/s"
            if name.endswith("per_s")
            else "ms"
            if name.endswith("_ms")
            else "s"
            if name.endswith("_s")
            else ""
        )
        print(f"{name}: {value} {unit}".rstrip())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
