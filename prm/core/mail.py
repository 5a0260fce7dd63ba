"""Email delivery for the outbox: real SMTP via aiosmtplib, or the in-database mailbox.

Without an SMTP host (the `make run` default) delivering an email means keeping it: the
outbox row itself, marked delivered, is what the vendor admins' mailbox page shows.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from prm.core.outbox import Claimed


class SmtpDeliverer:
    def __init__(self, *, host: str, port: int, sender: str, use_tls: bool = False, timeout: float = 15.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._use_tls = use_tls
        self._timeout = timeout

    async def __call__(self, message: Claimed) -> None:
        await aiosmtplib.send(
            build_email(message, self._sender),
            hostname=self._host,
            port=self._port,
            start_tls=self._use_tls,
            timeout=self._timeout,
        )


def build_email(message: Claimed, sender: str) -> EmailMessage:
    payload = message.payload
    email = EmailMessage()
    email["From"] = sender
    email["To"] = str(payload["to"])
    email["Subject"] = str(payload["subject"])
    email["Message-ID"] = f"<{message.id}@prm>"
    email.set_content(str(payload["text"]))
    if payload.get("html"):
        email.add_alternative(str(payload["html"]), subtype="html")
    return email


async def keep_in_mailbox(message: Claimed) -> None:
    """Mailbox mode: nothing to send; the delivered row is the kept mail."""
    return
