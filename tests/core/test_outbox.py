"""The outbox delivers after commit through a real SMTP server and a real webhook receiver,
retries with back-off on the injected clock, and parks what keeps failing as dead letters."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from litestar import Litestar

from prm.core.clock import ManualClock
from tests.conftest import World


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.port = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _listening_controller(handler: Inbox) -> Controller:
    """An SMTP server on a free port; another process may take a port between the probe and the bind, so retry."""
    for _attempt in range(20):
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        return controller
    raise RuntimeError("no free port for the test SMTP server")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = _listening_controller(handler)
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def smtp_port(request: pytest.FixtureRequest) -> int:
    """The inbox's port when the test has one (bound before the app is built), else a port nobody listens on."""
    if "inbox" in request.fixturenames:
        return int(request.getfixturevalue("inbox").port)
    return _free_port()


@pytest.fixture
def settings_overrides(smtp_port: int) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_sender": "prm@vendor.test",
        "outbox_max_attempts": 3,
    }


async def _create_user(client: httpx.AsyncClient, world: World, email: str) -> httpx.Response:
    return await client.post(
        "/api/v1/users",
        json={
            "email": email,
            "name": "New Seller",
            "role": "partner_user",
            "password": "a long password",
            "partner_id": str(world.partner_a),
        },
        headers=world.admin.headers,
    )


async def test_email_goes_through_the_outbox_to_the_smtp_server(
    client: httpx.AsyncClient, world: World, app: Litestar, inbox: Inbox
) -> None:
    reply = await _create_user(client, world, "new.seller@acme.test")
    assert reply.status_code == 201, reply.text
    assert inbox.messages == []  # nothing is sent inside the request's transaction

    assert await app.state.runtime.outbox.run_once() == 1
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["To"] == "new.seller@acme.test"
    assert mail["Subject"] == "Your prm account is ready"
    assert "New Seller" in mail.get_payload()

    assert await app.state.runtime.outbox.run_once() == 0  # delivered once, never twice
    delivered = await client.get("/api/v1/outbox?status=delivered&kind=email", headers=world.admin.headers)
    assert [m["destination"] for m in delivered.json()["items"]] == ["new.seller@acme.test"]


async def test_failed_request_queues_no_email(
    client: httpx.AsyncClient, world: World, app: Litestar, inbox: Inbox
) -> None:
    await _create_user(client, world, "twice@acme.test")
    duplicate = await _create_user(client, world, "twice@acme.test")
    assert duplicate.status_code == 409
    await app.state.runtime.outbox.run_once()
    assert [m["To"] for m in inbox.messages] == ["twice@acme.test"]


async def test_smtp_down_retries_with_backoff_then_dead_letter_then_manual_retry(
    client: httpx.AsyncClient, world: World, app: Litestar, clock: ManualClock, smtp_port: int
) -> None:
    outbox = app.state.runtime.outbox
    await _create_user(client, world, "later@acme.test")  # no SMTP server is listening yet

    assert await outbox.run_once() == 1
    pending = (await client.get("/api/v1/outbox?status=pending", headers=world.admin.headers)).json()["items"]
    assert pending[0]["attempts"] == 1
    assert pending[0]["last_error"]
    assert await outbox.run_once() == 0  # backing off: not due yet

    clock.advance(timedelta(seconds=11))
    assert await outbox.run_once() == 1
    clock.advance(timedelta(seconds=21))
    assert await outbox.run_once() == 1
    dead = (await client.get("/api/v1/outbox?status=dead", headers=world.admin.headers)).json()["items"]
    assert len(dead) == 1
    assert dead[0]["attempts"] == 3
    partner_view = await client.get("/api/v1/outbox?status=dead", headers=world.pa_admin.headers)
    assert partner_view.status_code == 403

    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        retried = await client.post(f"/api/v1/outbox/{dead[0]['id']}/retry", headers=world.admin.headers)
        assert retried.status_code == 200
        assert retried.json()["status"] == "pending"
        assert await outbox.run_once() == 1
    finally:
        controller.stop()
    assert [m["To"] for m in handler.messages] == ["later@acme.test"]


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.fail_next:
            Receiver.fail_next -= 1
            self.send_response(503)
        else:
            Receiver.received.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    Receiver.fail_next = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


async def test_webhook_events_are_signed_and_retried(
    client: httpx.AsyncClient, world: World, app: Litestar, clock: ManualClock, receiver: str
) -> None:
    created = await client.post(
        "/api/v1/webhooks", json={"url": receiver, "event_types": ["account.created"]}, headers=world.admin.headers
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    listed = (await client.get("/api/v1/webhooks", headers=world.admin.headers)).json()["items"]
    assert "secret" not in listed[0]

    Receiver.fail_next = 1
    account = (await client.post("/api/v1/accounts", json={"name": "Hooked"}, headers=world.pa_user.headers)).json()
    await client.post(
        "/api/v1/users",
        json={"email": "x@vendor.test", "name": "X", "role": "leadership", "password": "a long password"},
        headers=world.admin.headers,
    )
    outbox = app.state.runtime.outbox
    await outbox.run_once()
    assert Receiver.received == []  # the 503 is retried later, not dropped
    clock.advance(timedelta(seconds=11))
    await outbox.run_once()

    state = (await client.get("/api/v1/outbox", headers=world.admin.headers)).json()["items"]
    assert len(Receiver.received) == 1, [(m["kind"], m["status"], m["attempts"], m["last_error"]) for m in state]
    headers, body = Receiver.received[0]
    expected = (
        "sha256="
        + hmac.new(secret.encode(), headers["X-PRM-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    assert hmac.compare_digest(headers["X-PRM-Signature"], expected)
    event = json.loads(body)
    assert event["type"] == "account.created"
    assert event["data"]["id"] == account["id"]
    assert headers["X-PRM-Delivery"] == event["id"]
