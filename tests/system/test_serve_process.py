"""A real `prm serve` process: JSON log lines that carry the request id into the outbox
delivery and onto the connector message a peer receives; and a graceful SIGTERM (readiness
goes false first, a slow in-flight request completes, the process exits within the bound),
for one process and, on PostgreSQL, for `--workers 2` (SIGTERM to the parent, which passes it
on to its workers)."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL
from tests.connect.harness import Instance, eventually

DRAIN_SECONDS = 4.0  # long enough to see /ready say 503 on a loaded machine
TIMEOUT_SECONDS = 8.0


class LoggedInstance(Instance):
    """One instance at log level info, its output kept as lines to read."""

    def __init__(self, name: str, folder: Path, *, workers: int = 1) -> None:
        super().__init__(name, folder)
        self.serve_args = ["--log-level", "info", "--workers", str(workers)]
        self.env.update(
            {
                "PRM_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
                "PRM_SHUTDOWN_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
                "PRM_OUTBOX_POLL_SECONDS": "0.2",
            }
        )

    def events(self) -> list[dict[str, Any]]:
        """Every line is one JSON object (a line that is not fails the test here)."""
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[LoggedInstance]:
    server = LoggedInstance("ops", tmp_path)
    server.set_up()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.drop_database()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[LoggedInstance]:
    """`prm serve --workers 2` on PostgreSQL, both workers started (they answer in turn)."""
    server = LoggedInstance("workers", tmp_path, workers=2)
    server.set_up()
    server.start()
    try:
        eventually(lambda: len(_started(server)) == 2, within=120, what="both workers started")
        yield server
    finally:
        server.stop()
        server.drop_database()


def _started(instance: LoggedInstance) -> list[dict[str, Any]]:
    return [e for e in instance.events() if "Application startup complete" in e["event"]]


class PeerInbox(BaseHTTPRequestHandler):
    """Stands in for a peer instance: keeps the headers of each message it is sent."""

    received: list[dict[str, str]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[tuple[str, list[dict[str, str]]]]:
    received: list[dict[str, str]] = []
    handler = type("Inbox", (PeerInbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def _with_id(events: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("request_id") == request_id]


def test_json_logs_follow_the_request_id_into_deliveries_and_to_the_peer(
    instance: LoggedInstance, peer: tuple[str, list[dict[str, str]]]
) -> None:
    created = instance.http.post(
        "/api/v1/users",
        json={"email": "new@vendor.example", "name": "New", "role": "leadership", "password": "a long password 1"},
        headers={**instance.headers, "x-request-id": "trace-user-1"},
    )
    assert created.status_code == 201, created.text
    peer_url, received = peer
    invited = instance.http.post(
        "/api/v1/connect/connections",
        json={"peer_url": peer_url, "contact_email": "ops@peer.example"},
        headers={**instance.headers, "x-request-id": "trace-invite-1"},
    )
    assert invited.status_code == 201, invited.text

    def delivered(request_id: str) -> list[dict[str, Any]]:
        return [e for e in _with_id(instance.events(), request_id) if "delivered" in e["event"]]

    welcome = eventually(lambda: delivered("trace-user-1"), within=30, what="the welcome email delivered")
    assert welcome[0]["logger"] == "prm.outbox"
    assert "email" in welcome[0]["event"]
    eventually(lambda: delivered("trace-invite-1"), within=30, what="the invitation delivered")
    assert [h.get("x-request-id") for h in received] == ["trace-invite-1"]  # the peer logs it under our id

    access = [e for e in _with_id(instance.events(), "trace-user-1") if e["logger"] == "uvicorn.access"]
    assert len(access) == 1
    assert "POST /api/v1/users" in access[0]["event"]
    assert "201" in access[0]["event"]
    assert all({"event", "level", "timestamp", "logger"} <= e.keys() for e in instance.events())


def test_an_instance_whose_free_port_was_taken_before_it_bound_starts_on_another(tmp_path: Path) -> None:
    """The harness's free port is free when found, not necessarily when `prm serve` binds it."""
    server = LoggedInstance("moved", tmp_path)
    taken = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        try:
            server.set_up()
            server.start()
            assert server.port != taken
            assert server.env["PRM_BASE_URL"] == server.url == f"http://127.0.0.1:{server.port}"
            assert server.http.get("/health").status_code == 200
            assert any("address already in use" in e["event"].lower() for e in server.events())
        finally:
            server.stop()
            server.drop_database()


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class SlowRequest:
    """A POST whose body comes in two halves: in flight from the first half until `finish()`."""

    instance: Instance
    replies: list[httpx.Response] = field(default_factory=list)
    _first_half_sent: threading.Event = field(default_factory=threading.Event)
    _let_go: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        body = json.dumps({"name": "Slow Partner Ltd", "tier": "gold", "country": "US"}).encode()

        def slow_body() -> Iterator[bytes]:
            yield body[:10]
            self._first_half_sent.set()
            self._let_go.wait(30)
            yield body[10:]

        def send() -> None:
            headers = {**self.instance.headers, "content-type": "application/json", "content-length": str(len(body))}
            url = f"{self.instance.url}/api/v1/partners"
            self.replies.append(httpx.post(url, content=slow_body(), headers=headers, timeout=60))

        self._thread = threading.Thread(target=send)
        self._thread.start()
        assert self._first_half_sent.wait(30)

    def finish(self) -> list[int]:
        assert self._thread is not None
        self._let_go.set()
        self._thread.join(30)
        return [r.status_code for r in self.replies]


def test_sigterm_drains_then_finishes_in_flight_requests_and_exits_within_the_bound(instance: LoggedInstance) -> None:
    slow = SlowRequest(instance)
    slow.start()
    assert instance.process is not None
    instance.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()

    eventually(lambda: instance.http.get("/ready").status_code == 503, within=DRAIN_SECONDS, what="/ready 503")
    assert instance.http.get("/health").status_code == 200  # still alive while draining
    eventually(lambda: _refused(instance.port), within=DRAIN_SECONDS + 5, what="new connections refused")
    assert instance.process.poll() is None  # stopping, but waiting for the request in flight
    assert slow.finish() == [201], [r.text for r in slow.replies]

    instance.process.wait(timeout=DRAIN_SECONDS + TIMEOUT_SECONDS + 5)
    took = time.monotonic() - signalled
    assert took < DRAIN_SECONDS + TIMEOUT_SECONDS
    events = [e["event"] for e in instance.events()]
    assert any("not ready" in e for e in events), events[-10:]
    assert not any(e.get("level") == "error" for e in instance.events()), events[-10:]


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state, ppid, ...); None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces


def _workers_of(parent: int) -> list[int]:
    """uvicorn's worker processes: the parent's children started by multiprocessing's spawn."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and int(stat[1]) == parent:
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive, and not a zombie (an exited process no parent has reaped yet)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


@pytest.mark.postgres_pass
def test_sigterm_to_the_parent_of_two_workers_drains_both_and_all_exit_within_the_bound(
    workers: LoggedInstance,
) -> None:
    assert PG_URL, "--workers needs PostgreSQL"
    assert workers.process is not None
    pids = _workers_of(workers.process.pid)
    assert len(pids) == 2, pids
    slow = SlowRequest(workers)
    slow.start()
    workers.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()

    # The parent passes SIGTERM on to each worker (within its half-second signal poll), and
    # each drains: /ready says 503 on whichever worker answers, then no new connection is taken.
    eventually(lambda: workers.http.get("/ready").status_code == 503, within=DRAIN_SECONDS, what="/ready 503")
    eventually(lambda: _refused(workers.port), within=DRAIN_SECONDS + 5, what="new connections refused")
    assert workers.process.poll() is None  # stopping, but a worker still serves the request in flight
    assert any(_running(pid) for pid in pids)
    assert slow.finish() == [201], [r.text for r in slow.replies]

    workers.process.wait(timeout=DRAIN_SECONDS + TIMEOUT_SECONDS + 5)
    took = time.monotonic() - signalled
    assert took < DRAIN_SECONDS + TIMEOUT_SECONDS + 1  # + the parent's signal poll
    assert not [pid for pid in pids if _running(pid)]
    events = workers.events()
    drained = [e for e in events if "not ready" in e["event"]]
    assert len(drained) == 2, [e["event"] for e in events[-20:]]  # one per worker
    assert not [e for e in events if e.get("level") == "error"], [e["event"] for e in events[-20:]]
