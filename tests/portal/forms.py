"""What a browser does with the portal's forms, for HTTP-level tests: load, read the token, post."""

from __future__ import annotations

import re
from http.cookies import Morsel, SimpleCookie

import httpx

from tests.conftest import PASSWORD

Client = httpx.AsyncClient
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_token(client: Client, path: str = "/login") -> str:
    """What the browser does: load a page with a form, which sets the CSRF cookie and carries the token."""
    reply = await client.get(path)
    found = _CSRF_INPUT.search(reply.text)
    assert found, f"the page {path} carries no CSRF token"
    return found.group(1)


async def post_login(client: Client, email: str, password: str = PASSWORD, **fields: str) -> httpx.Response:
    form = {"_csrf_token": await csrf_token(client), "email": email, "password": password, **fields}
    return await client.post("/login", data=form)


def session_cookie_of(reply: httpx.Response) -> Morsel[str] | None:
    for header in reply.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if "prm_session" in jar:
            return jar["prm_session"]
    return None
