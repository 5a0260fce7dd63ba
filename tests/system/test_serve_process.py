"""A real `prm serve` process: JSON log lines that carry the request id into the outbox
delivery and onto the connector message a peer receives; and a graceful SIGTERM (readiness
goes false first, a slow in-flight request completes, the process exits within the bound)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.connect.harness import PRM, START_DEADLINE_SECONDS, Instance, eventually

DRAIN_SECONDS = 4.0  # long enough to see /ready say 503 on a loaded machine
TIMEOUT_SECONDS = 8.0


class LoggedInstance(Instance):
    """One instance at log level info, its stderr kept as lines to read."""

    def start(self) -> None:
        self.log_file = self.folder / "server.log"
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [PRM, "serve", "--port", str(self.port), "--log-level", "info"],
            env=self.env,
            stdout=self.log_file.open("ab"),
            stderr=subprocess.STDOUT,
        )
        eventually(self._healthy, within=START_DEADLINE_SECONDS, what=f"{self.name} serving")

    def events(self) -> list[dict[str, Any]]:
        """Every line is one JSON object (a line that is not fails the test here)."""
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[LoggedInstance]:
    server = LoggedInstance("ops", tmp_path)
    server.env.update(
        {
            "PRM_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "PRM_SHUTDOWN_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "PRM_OUTBOX_POLL_SECONDS": "0.2",
        }
    )
    server.set_up()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.drop_database()


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


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_sigterm_drains_then_finishes_in_flight_requests_and_exits_within_the_bound(instance: LoggedInstance) -> None:
    first_half_sent, let_go = threading.Event(), threading.Event()
    body = json.dumps({"name": "Slow Partner Ltd", "tier": "gold", "country": "US"}).encode()

    def slow_body() -> Iterator[bytes]:
        yield body[:10]
        first_half_sent.set()
        let_go.wait(30)
        yield body[10:]

    replies: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: replies.append(
            httpx.post(
                f"{instance.url}/api/v1/partners",
                content=slow_body(),
                headers={**instance.headers, "content-type": "application/json", "content-length": str(len(body))},
                timeout=60,
            )
        )
    )
    slow.start()
    assert first_half_sent.wait(30)
    assert instance.process is not None
    instance.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()

    eventually(lambda: instance.http.get("/ready").status_code == 503, within=DRAIN_SECONDS, what="/ready 503")
    assert instance.http.get("/health").status_code == 200  # still alive while draining
    eventually(lambda: _refused(instance.port), within=DRAIN_SECONDS + 5, what="new connections refused")
    assert instance.process.poll() is None  # stopping, but waiting for the request in flight
    let_go.set()
    slow.join(30)
    assert [r.status_code for r in replies] == [201], [r.text for r in replies]

    instance.process.wait(timeout=DRAIN_SECONDS + TIMEOUT_SECONDS + 5)
    took = time.monotonic() - signalled
    assert took < DRAIN_SECONDS + TIMEOUT_SECONDS
    events = [e["event"] for e in instance.events()]
    assert any("not ready" in e for e in events), events[-10:]
    assert not any(e.get("level") == "error" for e in instance.events()), events[-10:]
